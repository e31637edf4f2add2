//! A TCP relay on loopback that passes every byte on to a server after a fixed delay, each way:
//! round trips through it cost what they would across a network (`BENCH_POSTGRES_LATENCY_US`).
//!
//! Each direction of a connection has a reader thread, which stamps what it reads with the time
//! it is due, and a writer thread, which sleeps until then and writes it: the delay is the same
//! for every message, whatever the traffic, and the order is kept. Threads sleep with the
//! operating system's timer (tens of microseconds), not tokio's (whole milliseconds).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// Starts a relay on 127.0.0.1 (a free port) to `target`, delaying each way by `one_way`;
/// returns its address. It serves until the process ends.
pub fn start(target: SocketAddr, one_way: Duration) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            match TcpStream::connect(target) {
                Ok(server) => {
                    if let Err(e) = relay(client, server, one_way) {
                        eprintln!("benches: relay to {target}: {e}");
                    }
                }
                Err(e) => eprintln!("benches: relay cannot reach {target}: {e}"),
            }
        }
    });
    Ok(addr)
}

/// Relays both directions between `client` and `server` on threads of their own.
fn relay(client: TcpStream, server: TcpStream, one_way: Duration) -> std::io::Result<()> {
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    delayed(client.try_clone()?, server.try_clone()?, one_way);
    delayed(server, client, one_way);
    Ok(())
}

/// Copies `from` to `to`, each read written `delay` after it was read; closes the writing half
/// of `to` once `from` ends.
fn delayed(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (due, queue) = mpsc::channel::<(Instant, Vec<u8>)>();
    thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = from.read(&mut buf) {
            if due
                .send((Instant::now() + delay, buf[..n].to_vec()))
                .is_err()
            {
                break;
            }
        }
    });
    thread::spawn(move || {
        for (at, bytes) in queue {
            if let Some(wait) = at.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
            if to.write_all(&bytes).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_arrive_in_order_after_the_delay_each_way() {
        let echo = TcpListener::bind("127.0.0.1:0").unwrap();
        let target = echo.local_addr().unwrap();
        thread::spawn(move || {
            let (mut s, _) = echo.accept().unwrap();
            let mut buf = [0u8; 1024];
            while let Ok(n @ 1..) = s.read(&mut buf) {
                s.write_all(&buf[..n]).unwrap();
            }
        });
        let delay = Duration::from_millis(20);
        let addr = start(target, delay).unwrap();
        let mut c = TcpStream::connect(addr).unwrap();
        let t = Instant::now();
        c.write_all(b"one ").unwrap();
        c.write_all(b"two").unwrap();
        let mut got = Vec::new();
        while got.len() < 7 {
            let mut buf = [0u8; 16];
            let n = c.read(&mut buf).unwrap();
            assert!(n > 0, "the relay closed early");
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"one two");
        assert!(t.elapsed() >= 2 * delay, "{:?}", t.elapsed());
    }
}
