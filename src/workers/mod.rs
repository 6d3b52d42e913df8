//! Worker processes: the protocol, the worker side, and the server's pool.

pub mod pool;
pub mod process;
pub mod protocol;
pub mod scheduler;
