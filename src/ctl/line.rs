//! Reading one newline-terminated line with a length limit, for both ends of the socket.
//!
//! `AsyncBufReadExt::read_line` would grow its buffer without bound; a client that never sends a
//! newline must not make the daemon allocate.

use std::io;

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// What [`read_line`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineRead {
    /// A line is in the buffer, without its `\n` (and without a `\r` before it).
    Line,
    /// The peer closed the connection before sending anything more.
    Eof,
    /// The line is longer than the limit. What was read of it is discarded; the rest of it is
    /// still unread, so the connection must be closed.
    TooLong,
}

/// Reads one line into `buf` (cleared first), at most `max` bytes not counting the newline. A
/// last line without a newline before the end of the stream counts as a line.
pub(crate) async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<LineRead> {
    buf.clear();
    loop {
        let avail = r.fill_buf().await?;
        if avail.is_empty() {
            return Ok(if buf.is_empty() { LineRead::Eof } else { LineRead::Line });
        }
        let (take, done) = match memchr::memchr(b'\n', avail) {
            Some(i) => (i, true),
            None => (avail.len(), false),
        };
        if buf.len() + take > max {
            let n = avail.len();
            r.consume(n);
            buf.clear();
            return Ok(LineRead::TooLong);
        }
        buf.extend_from_slice(&avail[..take]);
        r.consume(if done { take + 1 } else { take });
        if done {
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
            return Ok(LineRead::Line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::BufReader;

    async fn lines(input: &[u8], max: usize, cap: usize) -> Vec<(LineRead, String)> {
        let mut r = BufReader::with_capacity(cap, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            let got = read_line(&mut r, &mut buf, max).await.unwrap();
            out.push((got, String::from_utf8_lossy(&buf).into_owned()));
            if got != LineRead::Line {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn splits_lines_across_buffer_refills() {
        for cap in [1, 3, 64] {
            let got = lines(b"ab\r\ncdef\n\nlast", 10, cap).await;
            let want = [
                (LineRead::Line, "ab"),
                (LineRead::Line, "cdef"),
                (LineRead::Line, ""),
                (LineRead::Line, "last"),
                (LineRead::Eof, ""),
            ];
            let want: Vec<_> = want.iter().map(|(k, s)| (*k, s.to_string())).collect();
            assert_eq!(got, want, "capacity {cap}");
        }
    }

    #[tokio::test]
    async fn a_line_over_the_limit_is_refused() {
        for cap in [1, 4, 64] {
            let got = lines(b"12345\n123456\n", 5, cap).await;
            assert_eq!(got[0], (LineRead::Line, "12345".to_string()), "capacity {cap}");
            assert_eq!(got[1].0, LineRead::TooLong, "capacity {cap}");
        }
    }
}
