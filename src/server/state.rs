//! What every HTTP handler and middleware of the server shares.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use crate::server::clients::Sessions;
use crate::server::dispatch::Dispatcher;
use crate::server::inflight::{InFlightIds, LargeBodies};
use crate::server::listener::Connections;
use crate::store::{ScrubReport, Store};

pub struct AppState {
    pub dispatcher: Arc<Dispatcher>,
    pub store: Store,
    pub sessions: Arc<Sessions>,
    pub allowed_hosts: Vec<String>,
    pub connections: Arc<Connections>,
    pub large: Arc<LargeBodies>,
    pub in_flight_ids: Arc<InFlightIds>,
    /// POST responses not yet fully sent.
    pub open_posts: Arc<AtomicUsize>,
    pub scrub: Arc<Mutex<ScrubReport>>,
}
