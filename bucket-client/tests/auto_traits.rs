//! Compile-time checks: a `Client` can move to another thread (one per
//! worker, say), and its `Error` fits `Box<dyn Error + Send + Sync>`.

fn send<T: Send>() {}
fn error<T: std::error::Error + Send + Sync + 'static>() {}

#[test]
fn client_is_send_and_its_error_is_send_sync_static() {
    send::<bucket_client::Client>();
    error::<bucket_client::Error>();
}
