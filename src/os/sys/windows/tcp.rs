//! Windows: the TCP ports this host listens on, from `GetExtendedTcpTable`.
#![allow(unsafe_code)]

use std::io;

use windows_sys::Win32::NetworkManagement::IpHelper::{
    GetExtendedTcpTable, TCP_TABLE_OWNER_PID_LISTENER,
};

/// `AF_INET` and `AF_INET6` as `GetExtendedTcpTable` takes them.
const AF_INET: u32 = 2;
const AF_INET6: u32 = 23;
/// `ERROR_INSUFFICIENT_BUFFER`: the table grew between the size query and the read.
const ERROR_INSUFFICIENT_BUFFER: u32 = 122;
/// `MIB_TCPROW_OWNER_PID`: state, local addr, local port, remote addr, remote port, pid.
const ROW_V4: usize = 24;
/// `MIB_TCP6ROW_OWNER_PID`: local addr[16], scope, local port, remote addr[16], scope, remote
/// port, state, pid.
const ROW_V6: usize = 56;

/// The listening ports reachable from outside this host (loopback-only listeners left out).
pub fn listening_tcp_ports() -> io::Result<Vec<u16>> {
    let mut ports = Vec::new();
    let v4 = table(AF_INET)?;
    for row in rows(&v4, ROW_V4) {
        let addr = [row[4], row[5], row[6], row[7]];
        if addr[0] != 127 {
            ports.push(port(&row[8..12]));
        }
    }
    let v6 = table(AF_INET6)?;
    for row in rows(&v6, ROW_V6) {
        let loopback = row[..15].iter().all(|b| *b == 0) && row[15] == 1;
        if !loopback {
            ports.push(port(&row[20..24]));
        }
    }
    ports.sort_unstable();
    ports.dedup();
    Ok(ports)
}

/// A port as the table stores it: network byte order in the low 16 bits of a `DWORD`.
fn port(dword: &[u8]) -> u16 {
    u16::from_be_bytes([dword[0], dword[1]])
}

/// The rows of a table: a `u32` count, then `count` rows of `size` bytes.
fn rows(table: &[u8], size: usize) -> impl Iterator<Item = &[u8]> {
    let count = table.get(..4).map_or(0, |c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]) as usize);
    table.get(4..).unwrap_or(&[]).chunks_exact(size).take(count)
}

/// The whole listener table of one address family, as bytes.
fn table(af: u32) -> io::Result<Vec<u8>> {
    let mut size: u32 = 0;
    for _ in 0..8 {
        // u32 storage keeps the buffer aligned for the DWORD fields the API writes.
        let mut buf = vec![0u32; (size as usize).div_ceil(4).max(1)];
        let mut len = (buf.len() * 4) as u32;
        // SAFETY: `buf` is valid for writes of `len` bytes and outlives the call; `len` is a
        // valid pointer to its size, which the API updates.
        let ret = unsafe {
            GetExtendedTcpTable(
                buf.as_mut_ptr().cast(),
                &mut len,
                0,
                af,
                TCP_TABLE_OWNER_PID_LISTENER,
                0,
            )
        };
        match ret {
            0 => return Ok(buf.iter().flat_map(|w| w.to_ne_bytes()).take(len as usize).collect()),
            ERROR_INSUFFICIENT_BUFFER => size = len,
            e => return Err(io::Error::from_raw_os_error(e as i32)),
        }
    }
    Err(io::Error::other("the TCP table kept growing while it was read"))
}
