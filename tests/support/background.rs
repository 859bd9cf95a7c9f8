//! Test servers on 127.0.0.1, each on a runtime of its own in a background
//! thread (shared with the benchmarks, which include this file by path).

/// Serves the app `make_app` builds (given the address it will serve on)
/// on a free port of 127.0.0.1, on a runtime of its own in a background
/// thread that lives as long as the test process. Returns the address.
pub fn serve_in_background(
    worker_threads: usize,
    make_app: impl FnOnce(std::net::SocketAddr) -> axum::Router + Send + 'static,
) -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let runtime = if worker_threads > 1 {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(worker_threads)
                .enable_all()
                .build()
        } else {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        }
        .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            axum::serve(listener, make_app(addr)).await.expect("serve");
        });
    });
    addr
}
