//! The tokio contender: a current-thread runtime, one task per connection,
//! tokio-util's `LinesCodec`. Lines already read are echoed together and
//! flushed once (`feed`, then `flush` when no more input is ready), the
//! same batching the other servers get from reading whole buffers.

use futures::{FutureExt, SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_util::codec::{FramedRead, FramedWrite, LinesCodec};

/// Serves until killed.
pub fn serve(port: u16) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let (r, w) = stream.into_split();
                let mut lines = FramedRead::new(r, LinesCodec::new());
                let mut out = FramedWrite::new(w, LinesCodec::new());
                while let Some(Ok(line)) = lines.next().await {
                    if out.feed(line).await.is_err() {
                        return;
                    }
                    while let Some(Some(Ok(line))) = lines.next().now_or_never() {
                        if out.feed(line).await.is_err() {
                            return;
                        }
                    }
                    if SinkExt::<String>::flush(&mut out).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
}
