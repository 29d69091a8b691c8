//! The data plane over real sockets: each fault's semantics as an application
//! sees them, half-close, and byte-exactness while faults change.

use std::io;
use std::time::Duration;

use faultline_proxies::{
    Direction, Fault, FaultKind, Limits, OnHeal, Proxy, ProxySpec, Throughput,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

mod exact;
mod throughput;

/// An upstream that echoes every byte back and half-closes when the client does.
pub async fn echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = socket.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = w.shutdown().await;
            });
        }
    });
    addr
}

pub async fn proxy_to(upstream: std::net::SocketAddr) -> (Proxy, CancellationToken) {
    let stop = CancellationToken::new();
    let spec = ProxySpec {
        name: "test".into(),
        listen: "127.0.0.1:0".into(),
        upstream: upstream.to_string(),
        enabled: true,
    };
    let proxy = Proxy::start(spec, 7, Limits::default(), &stop)
        .await
        .unwrap();
    (proxy, stop)
}

async fn connect(proxy: &Proxy) -> TcpStream {
    TcpStream::connect(proxy.listen_addr().unwrap())
        .await
        .unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Reads until `n` bytes arrived or the stream ends.
async fn read_n(stream: &mut TcpStream, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    stream.read_exact(&mut buf).await?;
    Ok(buf)
}

/// True if a read completes within `wait` (used only to prove that nothing arrives).
async fn anything_arrives_within(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut byte = [0u8; 1];
    tokio::time::timeout(wait, stream.read(&mut byte))
        .await
        .is_ok()
}

/// Waits until the proxy's faults hold at least `bytes` (they were read off the socket).
/// Yields until the proxy holds no byte. The held-bytes gauge is updated
/// after the write that delivered the bytes, so it reaches 0 a moment after
/// the receiver has everything; one that never does fails here.
pub async fn wait_until_nothing_held(proxy: &Proxy) {
    let give_up = Instant::now() + Duration::from_secs(30);
    while proxy.stats().bytes_held != 0 {
        assert!(
            Instant::now() < give_up,
            "{} bytes still counted as held",
            proxy.stats().bytes_held
        );
        tokio::task::yield_now().await;
    }
}

async fn wait_until_held(proxy: &Proxy, bytes: u64) {
    let give_up = Instant::now() + Duration::from_secs(30);
    while proxy.stats().bytes_held < bytes {
        assert!(
            Instant::now() < give_up,
            "the proxy never held {bytes} bytes"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn bytes_pass_unchanged_with_no_fault() {
    let (proxy, _stop) = proxy_to(echo_server().await).await;
    let mut client = connect(&proxy).await;
    client.write_all(b"hello faultline").await.unwrap();
    assert_eq!(read_n(&mut client, 15).await.unwrap(), b"hello faultline");
}

#[tokio::test]
async fn latency_fault_delays_every_byte_and_keeps_order() {
    let (proxy, _stop) = proxy_to(echo_server().await).await;
    let mut client = connect(&proxy).await;
    proxy
        .add_fault(Fault::new(
            Direction::Downstream,
            FaultKind::Latency {
                latency: ms(150),
                jitter: ms(40),
            },
        ))
        .unwrap();
    let start = Instant::now();
    let mut sent = Vec::new();
    for i in 0..50u8 {
        client.write_all(&[i]).await.unwrap();
        sent.push(i);
    }
    let got = read_n(&mut client, 50).await.unwrap();
    assert!(
        start.elapsed() >= ms(110),
        "bytes arrived after {:?}, before latency - jitter",
        start.elapsed()
    );
    assert_eq!(got, sent, "latency with jitter reordered bytes");
}

#[tokio::test]
async fn latency_fault_reaches_a_connection_that_was_already_open() {
    let (proxy, _stop) = proxy_to(echo_server().await).await;
    let mut client = connect(&proxy).await;
    client.write_all(b"a").await.unwrap();
    read_n(&mut client, 1).await.unwrap();
    let _guard = proxy
        .fault_guard(Fault::new(
            Direction::Upstream,
            FaultKind::Latency {
                latency: ms(200),
                jitter: ms(0),
            },
        ))
        .unwrap();
    let start = Instant::now();
    client.write_all(b"b").await.unwrap();
    read_n(&mut client, 1).await.unwrap();
    assert!(start.elapsed() >= ms(200));
}

#[tokio::test]
async fn reset_peer_resets_an_open_connection() {
    let (proxy, _stop) = proxy_to(echo_server().await).await;
    let mut client = connect(&proxy).await;
    client.write_all(b"ping").await.unwrap();
    read_n(&mut client, 4).await.unwrap();
    proxy
        .add_fault(Fault::new(
            Direction::Downstream,
            FaultKind::ResetPeer {
                timeout: Duration::ZERO,
            },
        ))
        .unwrap();
    let mut buf = [0u8; 16];
    let err = client
        .read(&mut buf)
        .await
        .expect_err("the connection should be reset");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
}

#[tokio::test]
async fn reject_refuses_new_connects_at_once_and_resets_open_connections_at_their_next_byte() {
    let (proxy, _stop) = proxy_to(echo_server().await).await;
    let mut open = connect(&proxy).await;
    open.write_all(b"x").await.unwrap();
    read_n(&mut open, 1).await.unwrap();
    proxy
        .add_fault(Fault::new(Direction::Upstream, FaultKind::Reject))
        .unwrap();

    // The kernel answers the SYN with a reset: the connect() is refused.
    let err = TcpStream::connect(proxy.listen_addr().unwrap())
        .await
        .expect_err("a connect into a reject should be refused");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);

    let mut buf = [0u8; 1];
    open.write_all(b"y").await.unwrap();
    let err = open
        .read(&mut buf)
        .await
        .expect_err("the open connection should be reset on its next byte");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);

    proxy.remove_fault("reject_upstream").unwrap();
    let mut healed = connect(&proxy).await;
    healed.write_all(b"z").await.unwrap();
    assert_eq!(read_n(&mut healed, 1).await.unwrap(), b"z");
}

#[tokio::test]
async fn blackhole_holds_everything_then_delivers_in_order_on_heal() {
    let (proxy, _stop) = proxy_to(echo_server().await).await;
    let mut client = connect(&proxy).await;
    client.write_all(b"0").await.unwrap();
    read_n(&mut client, 1).await.unwrap();
    proxy
        .add_fault(Fault::new(
            Direction::Upstream,
            FaultKind::Blackhole {
                on_heal: OnHeal::DeliverNow,
            },
        ))
        .unwrap();
    client.write_all(b"123").await.unwrap();
    client.write_all(b"456").await.unwrap();
    assert!(
        !anything_arrives_within(&mut client, ms(200)).await,
        "bytes crossed a blackhole"
    );
    proxy.remove_fault("blackhole_upstream").unwrap();
    assert_eq!(read_n(&mut client, 6).await.unwrap(), b"123456");
}

#[tokio::test]
async fn healed_blackhole_delivers_at_the_next_retransmission_by_default() {
    let (proxy, _stop) = proxy_to(echo_server().await).await;
    let mut client = connect(&proxy).await;
    // A round trip first, so the connection is past admission and reading.
    client.write_all(b"0").await.unwrap();
    read_n(&mut client, 1).await.unwrap();
    proxy
        .add_fault(Fault::new(
            Direction::Upstream,
            FaultKind::Blackhole {
                on_heal: OnHeal::Deliver,
            },
        ))
        .unwrap();
    let first_held = Instant::now();
    client.write_all(b"late").await.unwrap();
    wait_until_held(&proxy, 4).await;
    proxy.remove_fault("blackhole_upstream").unwrap();
    assert_eq!(read_n(&mut client, 4).await.unwrap(), b"late");
    assert!(
        first_held.elapsed() >= ms(200),
        "delivered before the first retransmission (200 ms)"
    );
}

#[tokio::test]
async fn a_connect_into_a_blackhole_hangs_and_one_started_before_the_heal_completes_after_it() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (proxy, _stop) = proxy_to(listener.local_addr().unwrap()).await;
    let address = proxy.listen_addr().unwrap();
    proxy
        .add_fault(Fault::new(
            Direction::Upstream,
            FaultKind::Blackhole {
                on_heal: OnHeal::Deliver,
            },
        ))
        .unwrap();
    // The listener drops SYNs: a connect timeout fires, as the kernel's does.
    let timed_out = tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(address)).await;
    assert!(
        timed_out.is_err(),
        "connect() returned through a blackhole: {timed_out:?}"
    );
    // A connect in progress at the heal: its SYN was dropped, so it is
    // still connecting after the call returns.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_nonblocking(true).unwrap();
    let err = socket.connect(&address.into()).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(nix::libc::EINPROGRESS));
    let waiting = TcpStream::from_std(std::net::TcpStream::from(socket)).unwrap();
    assert!(
        waiting.peer_addr().is_err(),
        "connected through a blackhole"
    );
    assert_eq!(proxy.stats().connections_total, 0);
    proxy.remove_fault("blackhole_upstream").unwrap();
    // The kernel's next SYN retransmission completes it, and it reaches the server.
    waiting.writable().await.unwrap();
    assert_eq!(waiting.take_error().unwrap().map(|e| e.kind()), None);
    let mut waiting = waiting;
    waiting.write_all(b"hi").await.unwrap();
    let (mut server, _) = listener.accept().await.unwrap();
    let mut buf = [0u8; 2];
    server.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"hi");
    // The placeholder that filled the accept queue never reaches the server.
    assert_eq!(proxy.stats().connections_total, 1);
}

/// Yields until the proxy's open connections number `n`.
async fn wait_until_active(proxy: &Proxy, n: u64) {
    let give_up = Instant::now() + Duration::from_secs(30);
    while proxy.stats().connections_active != n {
        assert!(
            Instant::now() < give_up,
            "the proxy never had {n} open connections"
        );
        tokio::task::yield_now().await;
    }
}

/// A client held at admission by an upstream blackhole healing with
/// `on_heal`. The blackhole's toxicity is below 1, so the listener stays
/// open (only a blackhole on every connection drops SYNs) and admission
/// rolls it per connection; with the tests' seed it applies to the first.
/// The upstream is a std listener polled without blocking: a dialed
/// connection would sit in its accept queue whether or not anything
/// accepted it.
async fn held_by_blackhole(
    on_heal: OnHeal,
) -> (std::net::TcpListener, Proxy, CancellationToken, TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let (proxy, stop) = proxy_to(listener.local_addr().unwrap()).await;
    proxy
        .add_fault(
            Fault::new(Direction::Upstream, FaultKind::Blackhole { on_heal }).with_toxicity(0.99),
        )
        .unwrap();
    let client = connect(&proxy).await;
    (listener, proxy, stop, client)
}

#[tokio::test]
async fn a_held_connection_whose_client_gave_up_is_never_dialed() {
    let (listener, proxy, _stop, mut client) = held_by_blackhole(OnHeal::DeliverNow).await;
    client.write_all(b"request").await.unwrap();
    wait_until_active(&proxy, 1).await;
    // The client times out and closes while the SYN is still lost.
    drop(client);
    proxy.remove_fault("blackhole_upstream").unwrap();
    wait_until_active(&proxy, 0).await;
    let err = listener
        .accept()
        .expect_err("the server saw a connection whose client had closed");
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
}

#[tokio::test(start_paused = true)]
async fn a_connection_held_past_the_last_syn_retry_fails_like_a_timed_out_connect() {
    let (listener, _proxy, _stop, mut client) = held_by_blackhole(OnHeal::Deliver).await;
    let started = Instant::now();
    // The paused clock runs ahead while everything waits: the held connection
    // meets the kernel's 134 s SYN give-up with the blackhole still on.
    let mut buf = [0u8; 1];
    let err = tokio::time::timeout(Duration::from_secs(200), client.read(&mut buf))
        .await
        .expect("a held connection outlived the SYN retries")
        .expect_err("a held connection was answered through a blackhole");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    assert!(started.elapsed() >= Duration::from_secs(133));
    let err = listener
        .accept()
        .expect_err("the server saw the connection");
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
}

#[tokio::test]
async fn blackhole_healed_with_reset_resets_held_connections() {
    let (proxy, _stop) = proxy_to(echo_server().await).await;
    let mut client = connect(&proxy).await;
    client.write_all(b"a").await.unwrap();
    read_n(&mut client, 1).await.unwrap();
    proxy
        .add_fault(Fault::new(
            Direction::Downstream,
            FaultKind::Blackhole {
                on_heal: OnHeal::Reset,
            },
        ))
        .unwrap();
    client.write_all(b"b").await.unwrap();
    // The echo is held downstream; make sure it is in the proxy before healing.
    wait_until_held(&proxy, 1).await;
    proxy.remove_fault("blackhole_downstream").unwrap();
    let mut buf = [0u8; 1];
    let err = client
        .read(&mut buf)
        .await
        .expect_err("held connection should be reset");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
}

#[tokio::test]
async fn limit_data_passes_exactly_n_bytes_then_closes() {
    let (proxy, _stop) = proxy_to(echo_server().await).await;
    proxy
        .add_fault(Fault::new(
            Direction::Downstream,
            FaultKind::LimitData { bytes: 10 },
        ))
        .unwrap();
    let mut client = connect(&proxy).await;
    client.write_all(&[b'x'; 64]).await.unwrap();
    let mut got = Vec::new();
    let result = client.read_to_end(&mut got).await;
    assert!(
        result.is_ok() || result.as_ref().unwrap_err().kind() == io::ErrorKind::ConnectionReset
    );
    assert_eq!(got.len(), 10);
}

#[tokio::test]
async fn bandwidth_limits_the_rate_and_rate_zero_stalls() {
    let (proxy, _stop) = proxy_to(echo_server().await).await;
    let mut client = connect(&proxy).await;
    proxy
        .add_fault(Fault::new(
            Direction::Downstream,
            FaultKind::Bandwidth { rate_kb: 20 },
        ))
        .unwrap();
    let start = Instant::now();
    client.write_all(&[7u8; 10_000]).await.unwrap();
    read_n(&mut client, 10_000).await.unwrap();
    assert!(
        start.elapsed() >= ms(450),
        "10 KB at 20 KB/s took only {:?}",
        start.elapsed()
    );

    proxy
        .replace_fault(Fault::new(
            Direction::Downstream,
            FaultKind::Bandwidth { rate_kb: 0 },
        ))
        .unwrap();
    client.write_all(b"stalled").await.unwrap();
    assert!(
        !anything_arrives_within(&mut client, ms(200)).await,
        "rate 0 let bytes through"
    );
    proxy.remove_fault("bandwidth_downstream").unwrap();
    assert_eq!(read_n(&mut client, 7).await.unwrap(), b"stalled");
}

#[tokio::test]
async fn timeout_drops_data_and_closes_after_the_timeout() {
    let (proxy, _stop) = proxy_to(echo_server().await).await;
    let mut client = connect(&proxy).await;
    proxy
        .add_fault(Fault::new(
            Direction::Upstream,
            FaultKind::Timeout { timeout: ms(100) },
        ))
        .unwrap();
    let start = Instant::now();
    client.write_all(b"dropped").await.unwrap();
    let mut got = Vec::new();
    let _ = client.read_to_end(&mut got).await;
    assert!(got.is_empty(), "data crossed a timeout fault: {got:?}");
    assert!(start.elapsed() >= ms(100));
}

#[tokio::test]
async fn removing_a_timeout_closes_the_connection_instead_of_resuming_with_a_gap() {
    let (proxy, _stop) = proxy_to(echo_server().await).await;
    let mut client = connect(&proxy).await;
    proxy
        .add_fault(Fault::new(
            Direction::Upstream,
            FaultKind::Timeout {
                timeout: Duration::ZERO,
            },
        ))
        .unwrap();
    client.write_all(b"gap").await.unwrap();
    assert!(!anything_arrives_within(&mut client, ms(100)).await);
    proxy.remove_fault("timeout_upstream").unwrap();
    let mut got = Vec::new();
    let _ = client.read_to_end(&mut got).await;
    assert!(got.is_empty(), "the stream carried on after a gap: {got:?}");
}

#[tokio::test]
async fn slow_close_delays_the_fin_but_not_the_data() {
    let (proxy, _stop) = proxy_to(echo_server().await).await;
    proxy
        .add_fault(Fault::new(
            Direction::Downstream,
            FaultKind::SlowClose { delay: ms(300) },
        ))
        .unwrap();
    let mut client = connect(&proxy).await;
    client.write_all(b"bye").await.unwrap();
    client.shutdown().await.unwrap();
    let start = Instant::now();
    assert_eq!(read_n(&mut client, 3).await.unwrap(), b"bye");
    let mut rest = Vec::new();
    client.read_to_end(&mut rest).await.unwrap();
    assert!(
        start.elapsed() >= ms(300),
        "FIN arrived after {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn slicer_keeps_the_stream_intact() {
    let (proxy, _stop) = proxy_to(echo_server().await).await;
    proxy
        .add_fault(Fault::new(
            Direction::Downstream,
            FaultKind::Slicer {
                average_size: 7,
                size_variation: 3,
                delay: Duration::from_micros(50),
            },
        ))
        .unwrap();
    let mut client = connect(&proxy).await;
    let data: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
    client.write_all(&data).await.unwrap();
    assert_eq!(read_n(&mut client, data.len()).await.unwrap(), data);
}

#[tokio::test]
async fn a_lost_tail_chunk_arrives_after_a_retransmission_timeout() {
    let (proxy, _stop) = proxy_to(echo_server().await).await;
    let mut client = connect(&proxy).await;
    proxy
        .add_fault(Fault::new(
            Direction::Upstream,
            FaultKind::Loss {
                probability: 1.0,
                correlation: 0.0,
                rto: ms(150),
                throughput: Throughput::Cubic,
            },
        ))
        .unwrap();
    let start = Instant::now();
    client.write_all(b"lost").await.unwrap();
    // Probability 1 loses every retransmission too: 150 ms, then 300 ms more.
    assert!(!anything_arrives_within(&mut client, ms(300)).await);
    proxy.remove_fault("loss_upstream").unwrap();
    assert_eq!(read_n(&mut client, 4).await.unwrap(), b"lost");
    assert!(start.elapsed() >= ms(300));
}

#[tokio::test]
async fn half_close_lets_the_other_direction_go_on() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (proxy, _stop) = proxy_to(listener.local_addr().unwrap()).await;
    let mut client = connect(&proxy).await;
    client.write_all(b"request").await.unwrap();
    client.shutdown().await.unwrap();
    let (mut server, _) = listener.accept().await.unwrap();
    let mut request = Vec::new();
    server.read_to_end(&mut request).await.unwrap();
    assert_eq!(request, b"request");
    server
        .write_all(b"response after the client's FIN")
        .await
        .unwrap();
    drop(server);
    let mut response = Vec::new();
    client.read_to_end(&mut response).await.unwrap();
    assert_eq!(response, b"response after the client's FIN");
}

#[tokio::test]
async fn toxicity_zero_leaves_connections_untouched() {
    let (proxy, _stop) = proxy_to(echo_server().await).await;
    proxy
        .add_fault(Fault::new(Direction::Upstream, FaultKind::Reject).with_toxicity(0.0))
        .unwrap();
    let mut client = connect(&proxy).await;
    client.write_all(b"ok").await.unwrap();
    assert_eq!(read_n(&mut client, 2).await.unwrap(), b"ok");
}

#[tokio::test]
async fn a_disabled_proxy_refuses_connections_and_an_enabled_one_accepts_again() {
    let (proxy, _stop) = proxy_to(echo_server().await).await;
    let addr = proxy.listen_addr().unwrap();
    proxy.set_enabled(false).await.unwrap();
    assert_eq!(
        TcpStream::connect(addr).await.unwrap_err().kind(),
        io::ErrorKind::ConnectionRefused
    );
    // The port stays the proxy's: another socket cannot bind it meanwhile.
    let other = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    assert_eq!(
        other.bind(&addr.into()).map_err(|e| e.kind()),
        Err(io::ErrorKind::AddrInUse),
        "another socket took a disabled proxy's port"
    );
    proxy.set_enabled(true).await.unwrap();
    assert_eq!(
        proxy.listen_addr(),
        Some(addr),
        "re-enabled on another port"
    );
    let mut client = TcpStream::connect(proxy.listen_addr().unwrap())
        .await
        .unwrap();
    client.write_all(b"back").await.unwrap();
    assert_eq!(read_n(&mut client, 4).await.unwrap(), b"back");
}

#[tokio::test]
async fn an_unreachable_upstream_resets_the_client() {
    let unused = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let (proxy, _stop) = proxy_to(unused).await;
    let mut client = connect(&proxy).await;
    let mut buf = [0u8; 1];
    let result = client.read(&mut buf).await;
    assert!(
        matches!(result, Err(ref e) if e.kind() == io::ErrorKind::ConnectionReset),
        "{result:?}"
    );
}

#[tokio::test]
async fn shutdown_closes_every_connection() {
    let (proxy, stop) = proxy_to(echo_server().await).await;
    let mut client = connect(&proxy).await;
    client.write_all(b"x").await.unwrap();
    read_n(&mut client, 1).await.unwrap();
    let addr = proxy.listen_addr().unwrap();
    stop.cancel();
    proxy.shutdown().await;
    let mut rest = Vec::new();
    let _ = client.read_to_end(&mut rest).await;
    assert_eq!(proxy.stats().connections_active, 0);
    // The listener is closed too, though the proxy value still exists.
    assert_eq!(
        TcpStream::connect(addr).await.unwrap_err().kind(),
        io::ErrorKind::ConnectionRefused
    );
}
