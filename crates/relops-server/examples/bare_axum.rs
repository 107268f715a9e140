//! The reference for the ingest benchmark (`bench/ingest.sh`): an axum server whose only
//! route answers 200 without reading or storing anything.
//!
//! `cargo run --release -p relops-server --example bare_axum -- 127.0.0.1:PORT`
//!
//! It uses the same allocator as the `relops` binary, so that the comparison is of the
//! work done, not of the allocators.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let app = axum::Router::new().route(
        "/api/{project}/envelope/",
        axum::routing::post(|| async { "{}" }),
    );
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await
}
