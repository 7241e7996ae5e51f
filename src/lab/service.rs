//! The lab hosts' TCP service: accepts on a few ports and greets, so that connecting to a
//! sleeping host has a target (`wakeproxy lab serve`, started by `lab up` in each host).
//!
//! The greeting is one line, `hello from <host> port <port>`, sent as soon as a connection is
//! accepted. On the web port ([`HTTP_PORT`]) a client that speaks first with an HTTP request
//! (`curl http://HOST:8080/`) gets the greeting as the body of an HTTP/1.0 200 instead; a client
//! that says nothing for [`HTTP_WAIT`] gets the plain line.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::time::Duration;

use socket2::{Domain, Socket, Type};

/// The port that answers HTTP.
pub(crate) const HTTP_PORT: u16 = 8080;

/// How long the web port waits for a request before it greets with the plain line.
const HTTP_WAIT: Duration = Duration::from_millis(200);

/// What the service sends on `port` to a client that sent `request` (maybe nothing).
fn answer(greeting: &str, port: u16, request: &[u8]) -> String {
    let http = ["GET ", "HEAD ", "POST "].iter().any(|m| request.starts_with(m.as_bytes()));
    if port != HTTP_PORT || !http {
        return greeting.to_owned();
    }
    let body = if request.starts_with(b"HEAD ") { "" } else { greeting };
    format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        greeting.len()
    )
}

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
                let greeting = format!("hello from {host} port {port}\n");
                let mut request = [0u8; 1024];
                let mut got = 0;
                if port == HTTP_PORT {
                    let _ = conn.set_read_timeout(Some(HTTP_WAIT));
                    got = conn.read(&mut request).unwrap_or(0);
                }
                // One write: the answer arrives in one segment.
                let _ = conn.write_all(answer(&greeting, port, &request[..got]).as_bytes());
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
/// and returns the greeting: on the web port it asks with HTTP, as a browser would, and reads
/// the body; elsewhere it reads the first line.
pub fn connect(
    addr: std::net::SocketAddr,
    timeout: std::time::Duration,
) -> std::io::Result<String> {
    use std::io::BufRead;
    let mut conn = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    conn.set_read_timeout(Some(timeout))?;
    if addr.port() == HTTP_PORT {
        conn.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    }
    let mut reader = std::io::BufReader::new(conn);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    if line.starts_with("HTTP/") {
        // Headers up to the empty line, then the greeting.
        while !line.trim().is_empty() {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                break;
            }
        }
        line.clear();
        reader.read_line(&mut line)?;
    }
    Ok(line.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_web_port_answers_http_and_every_port_greets_a_silent_client() {
        let hello = "hello from h2 port 8080\n";
        let ok = answer(hello, HTTP_PORT, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.0 200 OK\r\n"), "{ok}");
        assert!(ok.ends_with("\r\n\r\nhello from h2 port 8080\n"), "{ok}");
        assert!(ok.contains(&format!("Content-Length: {}\r\n", hello.len())), "{ok}");
        assert!(answer(hello, HTTP_PORT, b"HEAD / HTTP/1.1\r\n\r\n").ends_with("\r\n\r\n"));
        assert_eq!(answer(hello, HTTP_PORT, b""), hello);
        assert_eq!(answer(hello, 3389, b"GET / HTTP/1.0\r\n\r\n"), "hello from h2 port 8080\n");
        assert_eq!(answer(hello, HTTP_PORT, b"\x03\x00\x00"), hello);
    }
}
