//! Compile-time checks that the public types keep the auto traits embedders
//! rely on: a session can move to another thread or sit behind a lock, and
//! an error can go into `Box<dyn Error + Send + Sync>` (anyhow, tokio tasks).
//! Adding an `Rc`, a `RefCell` or a raw pointer to one of them fails to
//! compile here.

use bucket_proto::{
    BucketName, ClientError, ClientEvent, ClientSession, DirectReceiveError, EncodeError,
    FileEntry, FileName, NameError, RejectedRequest, Reply, ReplyError, Request, RequestError,
    SendError, ServerEvent, ServerSession,
};

fn send_sync<T: Send + Sync + Unpin>() {}
fn error<T: std::error::Error + Send + Sync + 'static>() {}

#[test]
fn sessions_and_messages_are_send_and_sync() {
    send_sync::<ServerSession>();
    send_sync::<ClientSession>();
    send_sync::<ServerEvent<'static>>();
    send_sync::<ClientEvent<'static>>();
    send_sync::<Request<'static>>();
    send_sync::<Reply<'static>>();
    send_sync::<BucketName<'static>>();
    send_sync::<FileName<'static>>();
    send_sync::<FileEntry<'static>>();
    send_sync::<RejectedRequest>();
}

#[test]
fn errors_are_send_sync_static_errors() {
    error::<RequestError>();
    error::<ReplyError>();
    error::<EncodeError>();
    error::<SendError>();
    error::<ClientError>();
    error::<NameError>();
    error::<DirectReceiveError>();
}
