//! The lab hosts' TCP service: accepts on a few ports and greets, so that connecting to a
//! sleeping host has a target (`wakeproxy lab serve`, started by `lab up` in each host). The
//! greeting is also a valid HTTP/0.9 answer: `curl --http0.9 http://HOST:8080/` prints it.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::time::Duration;

use socket2::{Domain, Socket, Type};

/// A listener on `addr`; an IPv6 one takes IPv6 only, so IPv4 can have a listener of its own
/// whatever `net.ipv6.bindv6only` says.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(128)?;
    Ok(socket.into())
}

/// Serves `ports` on IPv4 and IPv6 forever: each connection gets one line,
/// `hello from <host> port <port>`.
pub fn serve_tcp(host: &str, ports: &[u16]) -> std::io::Result<()> {
    let mut threads = Vec::new();
    let addrs = ports.iter().flat_map(|&p| {
        [SocketAddr::from((Ipv4Addr::UNSPECIFIED, p)), SocketAddr::from((Ipv6Addr::UNSPECIFIED, p))]
    });
    for addr in addrs {
        let port = addr.port();
        let listener = match listen(addr) {
            Ok(l) => l,
            // A kernel without IPv6 still gets its IPv4 service.
            Err(e) if addr.is_ipv6() => {
                eprintln!("lab service: no IPv6 listener on port {port}: {e}");
                continue;
            }
            Err(e) => return Err(e),
        };
        let host = host.to_owned();
        threads.push(std::thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                // One write: the greeting arrives in one segment.
                let _ = conn.write_all(format!("hello from {host} port {port}\n").as_bytes());
                // Then end our side and read what the client sent (an HTTP request, say)
                // until it closes: closing with unread data would reset the connection.
                let _ = conn.shutdown(std::net::Shutdown::Write);
                let _ = conn.set_read_timeout(Some(Duration::from_secs(1)));
                let mut sink = [0u8; 1024];
                while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
            }
        }));
    }
    for t in threads {
        let _ = t.join();
    }
    Ok(())
}

/// Connects to `addr` as a client would (the kernel retransmits the SYN while the host wakes)
/// and returns the first line the service sends.
pub fn connect(
    addr: std::net::SocketAddr,
    timeout: std::time::Duration,
) -> std::io::Result<String> {
    use std::io::BufRead;
    let conn = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    conn.set_read_timeout(Some(timeout))?;
    let mut line = String::new();
    std::io::BufReader::new(conn).read_line(&mut line)?;
    Ok(line.trim().to_owned())
}
