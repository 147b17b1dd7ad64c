//! Compile-time checks: a `Client` can move to another thread (one per
//! worker, say), its `Error` fits `Box<dyn Error + Send + Sync>`, and an
//! `Interrupter` can be shared with a signal or UI thread.

fn send<T: Send>() {}
fn shared<T: Send + Sync + Clone + 'static>() {}
fn error<T: std::error::Error + Send + Sync + 'static>() {}

#[test]
fn client_is_send_and_its_error_is_send_sync_static() {
    send::<bucket_client::Client>();
    error::<bucket_client::Error>();
}

#[test]
fn an_interrupter_can_be_shared_between_threads() {
    shared::<bucket_client::Interrupter>();
}
