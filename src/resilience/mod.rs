//! The protections in the request path: circuit breakers, rate limits, the memory guard.
//! (The bulkhead is the worker pool's bounded queue; see `workers::pool`.)

pub mod breaker;
pub mod limiter;
pub mod memory;
pub mod parse_cost;
