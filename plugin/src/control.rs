//! Starts and stops the plugin's network session off the audio thread: when the host activates
//! the plugin, and when the editor's Join or Leave changes the settings while it runs. A
//! session change is no restart: the new processor reaches the audio thread through the
//! handoff (`handoff.rs`) at its next block, and the latency the host knows stays as it is (it
//! is the effect chain's alone; the room's delay is the jitter buffer's, shown in the editor).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use engine::Processor;
use engine::transport;
use nice_plug::prelude::nice_error;

use crate::handoff;
use crate::session::{self, Session, Settings};
use crate::status::{SessionState, Status};

/// The session of one plugin instance, shared by the host's main thread and the editor.
pub struct SessionControl {
    inner: Mutex<Inner>,
    /// The click switch, read by the audio thread every chunk: it takes effect at once.
    pub click: AtomicBool,
}

struct Inner {
    session: Option<Session>,
    sender: handoff::Sender,
    /// The sample rate of the running activation; `None` while the plugin is inactive.
    active: Option<f64>,
    transport: Arc<transport::Shared>,
    status: Arc<Status>,
}

/// Why the editor's settings could not be applied now (they are kept for the next activation).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The host has not processed audio since the last change.
    #[error("the host is not processing audio: the room is joined when it activates the plugin")]
    NotProcessing,
}

impl SessionControl {
    /// A control with no session, and the audio thread's end of its handoff.
    pub(crate) fn new(
        transport: Arc<transport::Shared>,
        status: Arc<Status>,
    ) -> (Arc<Self>, handoff::Receiver) {
        let (sender, receiver) = handoff::channel();
        let control = Self {
            inner: Mutex::new(Inner {
                session: None,
                sender,
                active: None,
                transport,
                status,
            }),
            click: AtomicBool::new(false),
        };
        (Arc::new(control), receiver)
    }

    /// Activation at `sample_rate`: the session restarts from `settings`; returns the processor
    /// the audio thread starts with.
    pub(crate) fn activate(&self, settings: &Settings, sample_rate: f64) -> Option<Processor> {
        let mut inner = lock(&self.inner);
        inner.active = Some(sample_rate);
        inner.sender.collect();
        self.click.store(settings.click, Ordering::Relaxed);
        inner.restart(settings, sample_rate, true)
    }

    /// Deactivation: the room is left.
    pub(crate) fn deactivate(&self) {
        let mut inner = lock(&self.inner);
        inner.active = None;
        inner.session = None;
        inner.sender.collect();
        inner.status.set_state(SessionState::Off);
    }

    /// Applies the editor's `settings` to the running plugin: leaves the room, joins the one
    /// they name (if any), hands the audio thread the new processor. While the plugin is
    /// inactive there is nothing to do: activation starts what the settings say.
    ///
    /// # Errors
    /// [`ApplyError::NotProcessing`]: the audio thread has not taken the processors queued
    /// before; no session runs until the host activates the plugin again.
    pub fn apply(&self, settings: &Settings) -> Result<(), ApplyError> {
        self.click.store(settings.click, Ordering::Relaxed);
        let mut inner = lock(&self.inner);
        let Some(sample_rate) = inner.active else {
            return Ok(());
        };
        let processor = inner.restart(settings, sample_rate, false);
        if !inner.sender.send(processor) {
            inner.session = None;
            inner.status.set_state(SessionState::Off);
            return Err(ApplyError::NotProcessing);
        }
        Ok(())
    }

    /// Whether a session runs.
    pub fn is_running(&self) -> bool {
        lock(&self.inner).session.is_some()
    }

    /// Local tracks the running session sends (this instance's included).
    pub fn track_count(&self) -> Option<usize> {
        lock(&self.inner).session.as_ref().map(Session::track_count)
    }
}

impl Inner {
    /// Leaves the room, then joins the one `settings` name, if any. `activating`: a failure
    /// to start is the standalone's failure (it exits), not only the editor's message.
    fn restart(
        &mut self,
        settings: &Settings,
        sample_rate: f64,
        activating: bool,
    ) -> Option<Processor> {
        self.session = None;
        self.status.set_state(SessionState::Off);
        if !settings.is_enabled() {
            return None;
        }
        match Session::start(
            settings,
            sample_rate,
            crate::CHUNK,
            Arc::clone(&self.transport),
            Arc::clone(&self.status),
        ) {
            Ok((session, processor)) => {
                self.session = Some(session);
                self.status.set_state(SessionState::Running {
                    room: settings.room.clone(),
                    peers_called: settings.peers.len(),
                    codec: settings.codec_description(),
                    frame: settings.frame_samples,
                });
                Some(processor)
            }
            Err(err) => {
                let why = format!("cannot join room {:?}: {err}", settings.room);
                self.status.set_state(SessionState::Failed(why.clone()));
                // The standalone stops there; in a DAW (or from the editor) the plugin still
                // passes audio and the player sees why the room is silent.
                if !(activating && session::standalone_start_failed(&why)) {
                    nice_error!("OSP Jam: {why}");
                }
                None
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
