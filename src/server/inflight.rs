//! What an admitted request holds until its answer is sent: a large-body place, its id in
//! its session, and an open-response count the drain waits for. Each is given back when
//! dropped, so an aborted request cannot leak one.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::server::clients::ClientId;

/// Large bodies being read, globally and per client.
#[derive(Default)]
pub struct LargeBodies {
    state: Mutex<(usize, HashMap<ClientId, usize>)>,
}

/// A large-body place, given back when dropped.
pub struct LargePlace {
    bodies: Arc<LargeBodies>,
    client: ClientId,
}

impl Drop for LargePlace {
    fn drop(&mut self) {
        let mut state = self.bodies.lock();
        state.0 = state.0.saturating_sub(1);
        if let Some(n) = state.1.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                state.1.remove(&self.client);
            }
        }
    }
}

impl LargeBodies {
    fn lock(&self) -> MutexGuard<'_, (usize, HashMap<ClientId, usize>)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Large bodies being read now.
    pub fn reading(&self) -> usize {
        self.lock().0
    }

    /// A place for one more large body of `client`, or the client's count when the global
    /// `max` or the client's `client_max` is reached.
    pub fn try_take(
        self: &Arc<Self>,
        client: &ClientId,
        max: usize,
        client_max: usize,
    ) -> Result<LargePlace, usize> {
        let mut s = self.lock();
        let of_client = s.1.get(client).copied().unwrap_or(0);
        if s.0 >= max || of_client >= client_max {
            return Err(of_client);
        }
        s.0 += 1;
        *s.1.entry(client.clone()).or_insert(0) += 1;
        Ok(LargePlace {
            bodies: self.clone(),
            client: client.clone(),
        })
    }
}

/// Request ids in flight, per session.
#[derive(Default)]
pub struct InFlightIds {
    ids: Mutex<HashSet<String>>,
}

/// A request id held in flight, released when dropped.
pub struct IdInFlight {
    ids: Arc<InFlightIds>,
    key: String,
}

impl Drop for IdInFlight {
    fn drop(&mut self) {
        self.ids.lock().remove(&self.key);
    }
}

impl InFlightIds {
    fn lock(&self) -> MutexGuard<'_, HashSet<String>> {
        self.ids.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Holds `key` (session and id) in flight, or `None` when it already is.
    pub fn try_hold(self: &Arc<Self>, key: String) -> Option<IdInFlight> {
        self.lock().insert(key.clone()).then(|| IdInFlight {
            ids: self.clone(),
            key,
        })
    }
}

/// POST responses not yet fully sent (the drain waits for them).
pub struct OpenResponse {
    counter: Arc<AtomicUsize>,
}

impl OpenResponse {
    pub fn new(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self {
            counter: counter.clone(),
        }
    }
}

impl Drop for OpenResponse {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::SeqCst);
    }
}
