//! The server-wide limit on listings (`LIST_B`, `LIST_F`) built or waiting
//! to be sent at once ([`crate::Config::max_concurrent_listings`]).
//!
//! One `LIST_F` reply costs memory in proportion to the files listed (about
//! 250 bytes a file at its peak), and a
//! client can ask for it and hang up, or never read it. Each connection
//! holds a [`ListingPermit`] from before it builds a listing until the
//! encoded reply has left for the socket, so at most that many listings
//! are in memory at once; further ones wait their turn. The socket's write
//! timeout bounds how long a client that reads nothing keeps a permit.

use std::sync::{Condvar, Mutex};

/// The permits: how many are held, how many connections wait for one, and
/// whether the shutdown's grace period is over (waiting stops then).
#[derive(Debug, Default)]
pub(crate) struct ListingSlots {
    state: Mutex<SlotState>,
    /// Signalled when a permit is returned, and when waiting must stop.
    freed: Condvar,
}

#[derive(Debug, Default)]
struct SlotState {
    held: usize,
    waiting: usize,
    cut: bool,
}

/// One listing's share of [`ListingSlots`], returned when dropped.
#[derive(Debug)]
pub(crate) struct ListingPermit<'a> {
    slots: &'a ListingSlots,
}

impl ListingSlots {
    /// Waits until fewer than `max` permits are held and takes one; `None`
    /// once [`ListingSlots::cut`] was called (the shutdown's grace period
    /// is over: the waiting connection is to end, not to list).
    pub(crate) fn acquire(&self, max: usize) -> Option<ListingPermit<'_>> {
        let mut state = crate::lock(&self.state);
        state.waiting += 1;
        while !state.cut && state.held >= max {
            state = self.freed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        state.waiting -= 1;
        if state.cut {
            return None;
        }
        state.held += 1;
        Some(ListingPermit { slots: self })
    }

    /// Stops every wait, now and later: [`ListingSlots::acquire`] returns
    /// `None` from here on.
    pub(crate) fn cut(&self) {
        crate::lock(&self.state).cut = true;
        self.freed.notify_all();
    }

    /// Permits held now: listings being built or waiting to be sent.
    pub(crate) fn held(&self) -> usize {
        crate::lock(&self.state).held
    }

    /// Connections waiting for a permit now.
    pub(crate) fn waiting(&self) -> usize {
        crate::lock(&self.state).waiting
    }
}

impl Drop for ListingPermit<'_> {
    fn drop(&mut self) {
        let mut state = crate::lock(&self.slots.state);
        state.held -= 1;
        drop(state);
        self.slots.freed.notify_one();
    }
}
