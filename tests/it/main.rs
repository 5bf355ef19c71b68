//! Integration tests: the real server on a loopback port (in-process or the real binary),
//! spoken to over HTTP and raw sockets. One test binary; one module per concern.

mod common;

mod cli;
mod device;
mod geo;
mod hostile;
mod lifecycle;
mod proxies;
mod smart_link;
mod weights;
