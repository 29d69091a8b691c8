//! Byte-exactness: whatever faults do and however often they change, the bytes
//! that arrive are exactly the bytes that were sent.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use faultline_proxies::{Direction, Fault, FaultKind, OnHeal, Proxy, Throughput};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::{echo_server, proxy_to, wait_until_nothing_held};

/// A prime-sized random block: the stream is this block repeated, so a lost,
/// duplicated or reordered piece shows as a mismatch at its offset.
const BLOCK: usize = 1_000_003;

fn block(seed: u64) -> Arc<Vec<u8>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut data = vec![0u8; BLOCK];
    rng.fill(&mut data[..]);
    Arc::new(data)
}

async fn send(mut w: impl AsyncWriteExt + Unpin, pattern: Arc<Vec<u8>>, total: u64) {
    let mut offset = 0u64;
    while offset < total {
        let start = (offset % BLOCK as u64) as usize;
        let len = ((BLOCK - start) as u64).min(total - offset).min(256 * 1024) as usize;
        w.write_all(&pattern[start..start + len]).await.unwrap();
        offset += len as u64;
    }
    w.shutdown().await.unwrap();
}

/// Reads to the end, checking every byte against the pattern. Returns the count.
async fn receive(
    mut r: impl AsyncReadExt + Unpin,
    pattern: Arc<Vec<u8>>,
    progress: Arc<AtomicU64>,
    notify: Arc<Notify>,
) -> u64 {
    let mut buf = vec![0u8; 128 * 1024];
    let mut offset = 0u64;
    loop {
        let n = r.read(&mut buf).await.unwrap();
        if n == 0 {
            return offset;
        }
        let mut checked = 0;
        while checked < n {
            let start = (offset % BLOCK as u64) as usize;
            let len = (BLOCK - start).min(n - checked);
            assert!(
                buf[checked..checked + len] == pattern[start..start + len],
                "stream corrupted near byte {offset}"
            );
            checked += len;
            offset += len as u64;
        }
        progress.fetch_add(n as u64, Ordering::Relaxed);
        notify.notify_one();
    }
}

/// An upstream that sends `total` bytes of `pattern` and checks what it receives.
async fn bulk_server(
    total: u64,
    send_pattern: Arc<Vec<u8>>,
    expect: Arc<Vec<u8>>,
    progress: Arc<AtomicU64>,
    notify: Arc<Notify>,
) -> (std::net::SocketAddr, tokio::task::JoinHandle<u64>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let (r, w) = socket.into_split();
        let sender = tokio::spawn(send(w, send_pattern, total));
        let received = receive(r, expect, progress, notify).await;
        sender.await.unwrap();
        received
    });
    (addr, task)
}

/// One random fault change among a fixed cast of named faults on both directions.
fn change(proxy: &Proxy, rng: &mut ChaCha8Rng) {
    let direction = if rng.gen_bool(0.5) {
        Direction::Upstream
    } else {
        Direction::Downstream
    };
    let kind = match rng.gen_range(0..100) {
        0..=24 => FaultKind::Latency {
            latency: Duration::from_micros(rng.gen_range(0..3000)),
            jitter: Duration::from_micros(rng.gen_range(0..2000)),
        },
        25..=39 => FaultKind::Bandwidth {
            rate_kb: rng.gen_range(50_000..500_000),
        },
        40..=54 => FaultKind::Slicer {
            average_size: rng.gen_range(4096..32768),
            size_variation: 1024,
            delay: Duration::from_micros(rng.gen_range(0..20)),
        },
        55..=74 => FaultKind::Loss {
            probability: rng.gen_range(0.001..0.05),
            correlation: 0.3,
            rto: Duration::from_millis(rng.gen_range(1..5)),
            throughput: Throughput::Unbounded,
        },
        75..=99 => FaultKind::Blackhole {
            on_heal: if rng.gen_bool(0.01) {
                OnHeal::Deliver
            } else {
                OnHeal::DeliverNow
            },
        },
        _ => unreachable!(),
    };
    let name = format!("{}_{}", kind.type_name(), direction);
    let held_too_long = proxy
        .fault(&name)
        .is_some_and(|f| matches!(f.kind, FaultKind::Blackhole { .. }));
    if held_too_long || proxy.fault(&name).is_some() && rng.gen_bool(0.5) {
        proxy.remove_fault(&name).unwrap();
    } else if proxy.fault(&name).is_some() {
        proxy.replace_fault(Fault::new(direction, kind)).unwrap();
    } else {
        proxy.add_fault(Fault::new(direction, kind)).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_megabytes_each_way_arrive_intact_through_ten_thousand_fault_changes() {
    const TOTAL: u64 = 100 * 1_000_000;
    const CHANGES: u64 = 10_000;
    let up_pattern = block(1);
    let down_pattern = block(2);
    let progress = Arc::new(AtomicU64::new(0));
    let notify = Arc::new(Notify::new());
    let (server_addr, server) = bulk_server(
        TOTAL,
        down_pattern.clone(),
        up_pattern.clone(),
        progress.clone(),
        notify.clone(),
    )
    .await;
    let (proxy, _stop) = proxy_to(server_addr).await;
    let client = TcpStream::connect(proxy.listen_addr().unwrap())
        .await
        .unwrap();
    let (r, w) = client.into_split();
    let sender = tokio::spawn(send(w, up_pattern, TOTAL));
    let receiver = tokio::spawn(receive(r, down_pattern, progress.clone(), notify.clone()));

    let done = Arc::new(AtomicBool::new(false));
    let controller = {
        let (proxy, done, progress, notify) = (
            proxy.clone(),
            done.clone(),
            progress.clone(),
            notify.clone(),
        );
        tokio::spawn(async move {
            let mut rng = ChaCha8Rng::seed_from_u64(42);
            let step = 2 * TOTAL / (CHANGES + CHANGES / 4);
            let mut next = 0u64;
            let mut changes = 0u64;
            while !done.load(Ordering::Relaxed) {
                while progress.load(Ordering::Relaxed) >= next {
                    change(&proxy, &mut rng);
                    changes += 1;
                    next += step;
                }
                // Wake on progress, or after a moment so a blackhole that stops
                // all progress is lifted again.
                let _ = tokio::time::timeout(Duration::from_millis(2), notify.notified()).await;
                if progress.load(Ordering::Relaxed) < next {
                    change(&proxy, &mut rng);
                    changes += 1;
                }
            }
            changes
        })
    };
    sender.await.unwrap();
    let down_received = receiver.await.unwrap();
    let up_received = server.await.unwrap();
    done.store(true, Ordering::Relaxed);
    notify.notify_one();
    let changes = controller.await.unwrap();
    assert_eq!(up_received, TOTAL);
    assert_eq!(down_received, TOTAL);
    assert!(
        changes >= CHANGES,
        "only {changes} fault changes happened during the transfer"
    );
}

#[derive(Debug, Clone)]
enum Op {
    Write(usize),
    Add(Direction, FaultKind),
    Remove(Direction, usize),
}

fn kind() -> impl Strategy<Value = FaultKind> {
    prop_oneof![
        (0u64..20, 0u64..20).prop_map(|(l, j)| FaultKind::Latency {
            latency: Duration::from_millis(l),
            jitter: Duration::from_millis(j)
        }),
        (1000u64..100_000).prop_map(|rate_kb| FaultKind::Bandwidth { rate_kb }),
        (1usize..2000, 0usize..500, 0u64..50).prop_map(|(a, v, d)| FaultKind::Slicer {
            average_size: a,
            size_variation: v,
            delay: Duration::from_micros(d)
        }),
        (0.0f64..0.5, 0.0f64..0.9, 1u64..10, 0usize..3).prop_map(|(p, c, r, t)| {
            FaultKind::Loss {
                probability: p,
                correlation: c,
                rto: Duration::from_millis(r),
                // The pacer cuts and re-times chunks: it must keep every byte too.
                throughput: Throughput::parse(Throughput::NAMES[t]).unwrap(),
            }
        }),
        Just(FaultKind::Blackhole {
            on_heal: OnHeal::DeliverNow
        }),
        (0u64..20).prop_map(|d| FaultKind::SlowClose {
            delay: Duration::from_millis(d)
        }),
    ]
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![Just(Direction::Upstream), Just(Direction::Downstream)]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1usize..20_000).prop_map(Op::Write),
        2 => (direction(), kind()).prop_map(|(d, k)| Op::Add(d, k)),
        1 => (direction(), 0usize..4).prop_map(|(d, i)| Op::Remove(d, i)),
    ]
}

async fn run_ops(ops: Vec<Op>) -> (Vec<u8>, Vec<u8>) {
    let (proxy, _stop) = proxy_to(echo_server().await).await;
    let client = TcpStream::connect(proxy.listen_addr().unwrap())
        .await
        .unwrap();
    let (mut r, mut w) = client.into_split();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        got
    });
    let mut sent = Vec::new();
    let mut counter = 0u8;
    let mut added = 0usize;
    for op in ops {
        match op {
            Op::Write(n) => {
                let chunk: Vec<u8> = (0..n)
                    .map(|_| {
                        counter = counter.wrapping_add(1);
                        counter
                    })
                    .collect();
                w.write_all(&chunk).await.unwrap();
                sent.extend_from_slice(&chunk);
            }
            Op::Add(direction, kind) => {
                added += 1;
                proxy
                    .add_fault(Fault::new(direction, kind).named(format!("f{added}")))
                    .unwrap();
            }
            Op::Remove(direction, index) => {
                let info = proxy.info();
                let names: Vec<_> = info
                    .faults
                    .iter()
                    .filter(|f| f.direction == direction)
                    .map(|f| f.name.clone())
                    .collect();
                if let Some(name) = names.get(index) {
                    proxy.remove_fault(name).unwrap();
                }
            }
        }
    }
    proxy.clear_faults();
    w.shutdown().await.unwrap();
    let got = reader.await.unwrap();
    (sent, got)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_sequence_of_fault_changes_keeps_the_echoed_stream_exact(ops in prop::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (sent, got) = runtime.block_on(run_ops(ops));
        prop_assert_eq!(sent.len(), got.len());
        prop_assert!(sent == got, "echoed bytes differ from the bytes sent");
    }
}

/// A proxy with `limits`, for the fast-path variants (splice, copy, no pipes left).
async fn proxy_with(
    upstream: std::net::SocketAddr,
    limits: faultline_proxies::Limits,
) -> (Proxy, tokio_util::sync::CancellationToken) {
    let stop = tokio_util::sync::CancellationToken::new();
    let spec = faultline_proxies::ProxySpec {
        name: "switch".into(),
        listen: "127.0.0.1:0".into(),
        upstream: upstream.to_string(),
        enabled: true,
    };
    let proxy = Proxy::start(spec, 11, limits, &stop).await.unwrap();
    (proxy, stop)
}

/// Streams `total` bytes each way through a proxy with `limits` while a fault
/// goes on and off every `every` bytes of progress, alternately on the two
/// directions: each direction keeps switching between the zero-fault fast
/// path (bulk writes, so splice(2) when enabled) and the faulted path in the
/// middle of large writes. Every byte is checked at both ends.
async fn toggle_mid_stream(limits: faultline_proxies::Limits, total: u64, every: u64) {
    let up_pattern = block(21);
    let down_pattern = block(22);
    let progress = Arc::new(AtomicU64::new(0));
    let notify = Arc::new(Notify::new());
    let (server_addr, server) = bulk_server(
        total,
        down_pattern.clone(),
        up_pattern.clone(),
        progress.clone(),
        notify.clone(),
    )
    .await;
    let (proxy, _stop) = proxy_with(server_addr, limits).await;
    let client = TcpStream::connect(proxy.listen_addr().unwrap())
        .await
        .unwrap();
    let (r, w) = client.into_split();
    let sender = tokio::spawn(send(w, up_pattern, total));
    let receiver = tokio::spawn(receive(r, down_pattern, progress.clone(), notify.clone()));
    let done = Arc::new(AtomicBool::new(false));
    let toggler = {
        let (proxy, done, progress, notify) = (
            proxy.clone(),
            done.clone(),
            progress.clone(),
            notify.clone(),
        );
        tokio::spawn(async move {
            let mut rng = ChaCha8Rng::seed_from_u64(5);
            let mut next = every;
            let mut toggles = 0u64;
            while !done.load(Ordering::Relaxed) {
                if progress.load(Ordering::Relaxed) >= next {
                    next += every;
                    toggles += 1;
                    let direction = if toggles % 4 < 2 {
                        Direction::Upstream
                    } else {
                        Direction::Downstream
                    };
                    if toggles % 2 == 1 {
                        // Faults that always let bytes through, so progress goes on.
                        let kind = match rng.gen_range(0..4) {
                            0 => FaultKind::Latency {
                                latency: Duration::from_micros(rng.gen_range(0..1500)),
                                jitter: Duration::from_micros(rng.gen_range(0..500)),
                            },
                            1 => FaultKind::Slicer {
                                average_size: rng.gen_range(1000..40_000),
                                size_variation: 500,
                                delay: Duration::ZERO,
                            },
                            2 => FaultKind::Bandwidth {
                                rate_kb: rng.gen_range(200_000..2_000_000),
                            },
                            _ => FaultKind::Loss {
                                probability: 0.02,
                                correlation: 0.2,
                                rto: Duration::from_millis(1),
                                throughput: Throughput::Unbounded,
                            },
                        };
                        proxy
                            .add_fault(Fault::new(direction, kind).named("toggled"))
                            .unwrap();
                    } else {
                        proxy.remove_fault("toggled").unwrap();
                    }
                } else {
                    notify.notified().await;
                }
            }
            toggles
        })
    };
    sender.await.unwrap();
    let down_received = receiver.await.unwrap();
    let up_received = server.await.unwrap();
    done.store(true, Ordering::Relaxed);
    notify.notify_one();
    let toggles = toggler.await.unwrap();
    assert_eq!(up_received, total);
    assert_eq!(down_received, total);
    assert!(
        toggles >= total / every,
        "only {toggles} toggles during the transfer"
    );
    let stats = proxy.stats();
    assert_eq!(stats.bytes_upstream, total);
    assert_eq!(stats.bytes_downstream, total);
    wait_until_nothing_held(&proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toggling_faults_mid_stream_keeps_the_splice_fast_path_exact() {
    toggle_mid_stream(faultline_proxies::Limits::default(), 64_000_000, 300_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toggling_faults_mid_stream_keeps_the_copy_fast_path_exact() {
    let limits = faultline_proxies::Limits {
        splice: false,
        ..Default::default()
    };
    toggle_mid_stream(limits, 32_000_000, 300_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toggling_faults_mid_stream_stays_exact_when_the_pipe_pool_is_empty() {
    let limits = faultline_proxies::Limits {
        max_pipes: 0,
        ..Default::default()
    };
    toggle_mid_stream(limits, 32_000_000, 300_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toggling_faults_mid_stream_stays_exact_with_small_pipes() {
    // 4 KiB pipes (the smallest the kernel makes): many pipe fills per burst.
    let limits = faultline_proxies::Limits {
        pipe_size: 4096,
        ..Default::default()
    };
    toggle_mid_stream(limits, 16_000_000, 100_000).await;
}
