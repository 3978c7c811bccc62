//! Changing a running stack from another thread: published ports added and removed
//! while it runs (burrow-slirp's API socket, slirp4netns's `add_hostfwd` and
//! `remove_hostfwd`). A [`PortControl`] puts a request in a shared queue and wakes the
//! loop through a mio waker; the loop applies it between two turns and answers through
//! a channel, so the caller knows the listener is serving (or gone) when the call
//! returns. A removed port's listener is closed at once; flows it accepted go on.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use mio::Waker;

use super::{Listener, Stack, StackError, CONTROL};
use crate::publish::BoundPort;

/// A published port of a running stack, as [`PortControl::add`] numbers them.
pub type PortId = usize;

enum Request {
    Add(BoundPort, mpsc::Sender<Result<PortId, String>>),
    Remove(PortId, mpsc::Sender<bool>),
}

/// A handle on a running stack's published ports, usable from any thread.
#[derive(Clone)]
pub struct PortControl {
    /// None once the stack is gone: requests fail at once instead of waiting forever.
    queue: Arc<Mutex<Option<Vec<Request>>>>,
    waker: Arc<Waker>,
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("the network stack is not running")]
    Stopped,
    #[error("cannot serve the published port: {0}")]
    Listen(String),
}

impl PortControl {
    fn request<T>(&self, make: impl FnOnce(mpsc::Sender<T>) -> Request) -> Result<T, ControlError> {
        let (reply, answer) = mpsc::channel();
        self.queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
            .ok_or(ControlError::Stopped)?
            .push(make(reply));
        self.waker.wake().map_err(|_| ControlError::Stopped)?;
        answer.recv().map_err(|_| ControlError::Stopped)
    }

    /// Serves an already bound port; returns its id once the stack accepts on it.
    pub fn add(&self, port: BoundPort) -> Result<PortId, ControlError> {
        self.request(|reply| Request::Add(port, reply))?
            .map_err(ControlError::Listen)
    }

    /// Closes a published port; false when there is no such port.
    pub fn remove(&self, id: PortId) -> Result<bool, ControlError> {
        self.request(|reply| Request::Remove(id, reply))
    }
}

/// The stack's end: the queue, created with the first [`Stack::port_control`].
#[derive(Default)]
pub(super) struct ControlQueue {
    shared: Option<PortControl>,
}

impl Drop for ControlQueue {
    /// The stack is gone: waiting requests and later ones fail with `Stopped`.
    fn drop(&mut self) {
        if let Some(control) = &self.shared {
            control
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
        }
    }
}

impl Stack {
    /// A handle to add and remove published ports while the stack runs.
    pub fn port_control(&mut self) -> Result<PortControl, StackError> {
        if let Some(control) = &self.control.shared {
            return Ok(control.clone());
        }
        let waker = Waker::new(self.poll.registry(), CONTROL).map_err(StackError::Poll)?;
        let control = PortControl {
            queue: Arc::new(Mutex::new(Some(Vec::new()))),
            waker: Arc::new(waker),
        };
        self.control.shared = Some(control.clone());
        Ok(control)
    }

    /// Applies the queued requests.
    pub(super) fn apply_control(&mut self) {
        let Some(control) = &self.control.shared else {
            return;
        };
        let requests = control
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        for request in requests {
            match request {
                Request::Add(port, reply) => {
                    let id = self.listeners.len();
                    let result = self
                        .add_listener(port)
                        .map(|()| id)
                        .map_err(|e| e.to_string());
                    let _ = reply.send(result);
                }
                Request::Remove(id, reply) => {
                    let _ = reply.send(self.remove_listener(id));
                }
            }
        }
    }

    fn remove_listener(&mut self, id: PortId) -> bool {
        let Some(slot) = self.listeners.get_mut(id) else {
            return false;
        };
        let registry = self.poll.registry();
        match std::mem::replace(slot, Listener::Removed) {
            Listener::Tcp { mut listener, .. } => {
                let _ = registry.deregister(&mut listener);
                true
            }
            Listener::Udp { mut socket, .. } => {
                let _ = registry.deregister(&mut socket);
                true
            }
            Listener::Removed => false,
        }
    }
}
