//! Our own JACK shell: a JACK client that hosts the plugin (see [`crate::host`]) and behaves like
//! a JACK app.
//!
//! Why not nice-plug's JACK backend: it opens the client with the fixed name `osp_jam` and
//! treats any non-empty open status as an error, so a second instance on one server (which JACK
//! would simply rename) exits; its backend module is private, so it cannot be fixed from
//! outside, and we do not vendor a copy of nice-plug. A shell on the `engine` crate alone would
//! lose the track (effect chain, strip, parameters, transport live in the plugin on nice-plug
//! types), so this shell drives the plugin's own `Plugin` impl on the `jack` crate instead.
//!
//! - Client name: `osp_jam` by default, and when that is taken JACK's own unique name
//!   (`osp_jam-01`, ...); `--client-name NAME` is used exactly or fails. The name given is
//!   printed on stdout (`jack client NAME`) so scripts and tests can find the ports.
//! - Ports: `input_N`, `output_N` (N from 1) and, with the players' layout, `player_K_N`.
//! - The process callback only copies the inputs to the outputs and calls the plugin in place
//!   on JACK's own port buffers: no allocation, lock, log or syscall (checked by the
//!   allocation guard in debug builds); the plugin splits periods of any size into its own
//!   chunks, so a period size change needs no new buffers.
//! - Ctrl-C / SIGTERM deactivate the client, then the plugin (which leaves the room), and the
//!   app exits 0. With a window, closing it does the same.
//! - A restart the editor asks for happens between periods: the client is deactivated, the
//!   plugin activated again, the client activated and connected again (Join and Leave need
//!   none: the plugin changes its session while it runs). A server that goes away ends the
//!   app with one line and status 1.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use jack::{AudioIn, AudioOut, Client, ClientOptions, ClientStatus, Control, Port, ProcessScope};
use nice_plug::prelude::*;
use plugin::OspJam;

use crate::host::{Host, OwnTransport};
use crate::shell_args::Shell;

/// The client name asked for when the command line names none.
const DEFAULT_NAME: &str = "osp_jam";

/// How the shell ended, once it had started.
#[derive(Debug)]
pub(crate) enum Ended {
    /// Ctrl-C or SIGTERM: a clean stop.
    Stopped,
    /// The JACK server went away or changed under us (what happened).
    Lost(String),
}

/// Why the shell did not start.
#[derive(Debug)]
pub(crate) enum StartError {
    /// No JACK server answered (or no JACK library): `--backend auto` tries the others.
    NoServer(String),
    /// Anything else: the message for the one line the app prints.
    Failed(String),
}

/// Flags the shell shares with its callbacks.
#[derive(Default)]
struct Flags {
    /// Ctrl-C or SIGTERM arrived.
    stop: AtomicBool,
    /// The server shut the client down.
    shutdown: AtomicBool,
    /// The server's sample rate changed to this (0: it did not).
    new_rate: AtomicU32,
    /// The editor asked for the plugin to be restarted.
    restart: Arc<AtomicBool>,
    /// The player closed the window.
    window_closed: AtomicBool,
}

/// Opens the client, activates the plugin on it, and runs until Ctrl-C, SIGTERM or the
/// server's end.
///
/// # Errors
/// The shell could not start (see [`StartError`]).
pub(crate) fn run(shell: &Shell) -> Result<Ended, StartError> {
    let client = open(shell.client_name.as_deref())?;
    // Only once JACK answered: without a server `--backend auto` hands over to nice-plug's
    // shell, which installs its own handler (a process has one).
    let flags = Arc::new(Flags::default());
    {
        let flags = Arc::clone(&flags);
        ctrlc::set_handler(move || flags.stop.store(true, Ordering::Relaxed))
            .map_err(|e| StartError::Failed(format!("cannot handle Ctrl-C and SIGTERM: {e}")))?;
    }
    let name = client.name().to_owned();
    let rate = client.sample_rate();
    if let Some(asked) = shell.sample_rate
        && asked != rate as f32
    {
        return Err(StartError::Failed(format!(
            "-r {asked} does not match the JACK server's sample rate ({rate} Hz): leave -r \
             out or restart jackd at {asked} Hz"
        )));
    }
    let period = client.buffer_size();
    if let Some(asked) = shell.period_size
        && asked != period
    {
        tracing::warn!("-p {asked}: the JACK server runs {period}-frame periods; using those");
    }

    let layout = OspJam::AUDIO_IO_LAYOUTS[shell.layout_index()];
    let ports = Ports::register(&client, &layout).map_err(StartError::Failed)?;
    let transport = OwnTransport {
        tempo: shell.tempo,
        time_signature: (shell.timesig_num, shell.timesig_denom),
    };
    // Joins the room (a session that cannot start ends the app from the plugin's hook).
    let mut host =
        Host::activate(&layout, rate as f32, period, transport).map_err(StartError::Failed)?;
    // The window (when there is a display) needs the plugin's editor before the plugin moves
    // to the audio callback.
    let editor = host.editor();
    let notify = Notify {
        flags: Arc::clone(&flags),
        rate,
    };
    let process = Process { host, ports };
    let active = client
        .activate_async(notify, process)
        .map_err(|e| StartError::Failed(format!("cannot activate JACK client {name:?}: {e}")))?;
    // JACK2 connects ports of active clients only.
    connect(active.as_client(), &name, shell, &layout).map_err(StartError::Failed)?;
    {
        // Flushed at once: whoever reads it through a pipe is waiting for it to connect.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "jack client {name}");
        let _ = out.flush();
    }
    tracing::info!("JACK client {name:?}: {rate} Hz, {period}-frame periods");

    let supervisor = Supervisor {
        flags: Arc::clone(&flags),
        rate,
        name,
        layout,
        shell: shell.clone(),
    };
    let Some(editor) = editor else {
        return Ok(supervisor.run(active));
    };
    // The window on this thread (toolkits want the main one), the client supervised on another.
    let gui = crate::window::ShellGui {
        restart: Arc::clone(&flags.restart),
        sample_rate: rate as f32,
    };
    let supervising = std::thread::Builder::new()
        .name("osp-jam-shell".into())
        .spawn(move || {
            let ended = supervisor.run(active);
            if !supervisor.flags.window_closed.load(Ordering::Relaxed) {
                // Ctrl-C, SIGTERM or the server's end while the window is open: the room is
                // left; the window is asked to close and the main thread returns as when the
                // player closes it. Exiting the process from here instead would run the C
                // libraries' exit handlers while the window still draws on the main thread
                // (CI saw the heap corrupted that way). A window that does not close within
                // a few seconds (its display gone) no longer holds the app.
                plugin::editor::close_request().store(true, Ordering::Relaxed);
                if !supervisor.wait_for_window_to_close(Duration::from_secs(5)) {
                    let code = match &ended {
                        Ended::Stopped => 0,
                        Ended::Lost(why) => {
                            eprintln!("osp-jam: {why}");
                            1
                        }
                    };
                    std::process::exit(code);
                }
            }
            ended
        })
        .map_err(|e| StartError::Failed(format!("cannot start the shell's thread: {e}")))?;
    let window = crate::window::run(&editor, gui);
    flags.window_closed.store(true, Ordering::Relaxed);
    flags.stop.store(true, Ordering::Relaxed);
    let ended = supervising
        .join()
        .unwrap_or_else(|_| Ended::Lost("the shell's thread panicked".to_owned()));
    window.map_err(StartError::Failed)?;
    Ok(ended)
}

/// Watches the running client: stops it on Ctrl-C, SIGTERM, a closed window or the server's
/// end, and restarts the plugin when its editor asks.
struct Supervisor {
    flags: Arc<Flags>,
    /// The rate the plugin runs at.
    rate: u32,
    /// The client's name.
    name: String,
    layout: AudioIOLayout,
    shell: Shell,
}

type Active = jack::AsyncClient<Notify, Process>;

impl Supervisor {
    fn run(&self, mut active: Active) -> Ended {
        let flags = &self.flags;
        let ended = loop {
            std::thread::sleep(Duration::from_millis(20));
            if flags.stop.load(Ordering::Relaxed) {
                break Ended::Stopped;
            }
            if flags.shutdown.load(Ordering::Relaxed) {
                break Ended::Lost("the JACK server shut down".to_owned());
            }
            let new_rate = flags.new_rate.load(Ordering::Relaxed);
            if new_rate != 0 {
                break Ended::Lost(format!(
                    "the JACK server changed its sample rate from {} to {new_rate} Hz; restart \
                     osp-jam",
                    self.rate
                ));
            }
            if flags.restart.swap(false, Ordering::Relaxed) {
                active = match self.restart(active) {
                    Ok(active) => active,
                    Err(why) => return Ended::Lost(why),
                };
            }
        };
        // The callbacks stop first, then the plugin leaves the room. If the server is gone the
        // client cannot be deactivated; the plugin is then dropped with it (and still says
        // goodbye).
        if let Ok((_, _, mut process)) = active.deactivate() {
            process.host.deactivate();
        }
        ended
    }

    /// Waits up to `limit` for the main thread to close the window; whether it did.
    fn wait_for_window_to_close(&self, limit: Duration) -> bool {
        let step = Duration::from_millis(20);
        let mut waited = Duration::ZERO;
        while !self.flags.window_closed.load(Ordering::Relaxed) {
            if waited >= limit {
                return false;
            }
            std::thread::sleep(step);
            waited += step;
        }
        true
    }

    /// Stops the callbacks, restarts the plugin (it starts its session anew from its
    /// settings), and runs the client again with its connections.
    fn restart(&self, active: Active) -> Result<Active, String> {
        let (client, notify, mut process) = active
            .deactivate()
            .map_err(|e| format!("cannot stop JACK client {:?}: {e}", self.name))?;
        process.host.restart()?;
        let active = client
            .activate_async(notify, process)
            .map_err(|e| format!("cannot restart JACK client {:?}: {e}", self.name))?;
        connect(active.as_client(), &self.name, &self.shell, &self.layout)?;
        Ok(active)
    }
}

/// Opens the client: the exact name asked for, or [`DEFAULT_NAME`] made unique by JACK.
fn open(exact: Option<&str>) -> Result<Client, StartError> {
    let server = std::env::var("JACK_DEFAULT_SERVER").unwrap_or_else(|_| "default".to_owned());
    let mut options = ClientOptions::NO_START_SERVER;
    if exact.is_some() {
        options |= ClientOptions::USE_EXACT_NAME;
    }
    let asked = exact.unwrap_or(DEFAULT_NAME);
    match Client::new(asked, options) {
        // A renamed client (NAME_NOT_UNIQUE without USE_EXACT_NAME) is what we asked for.
        Ok((client, _status)) => Ok(client),
        Err(jack::Error::ClientError(status)) if status.contains(ClientStatus::NAME_NOT_UNIQUE) => {
            Err(StartError::Failed(format!(
                "JACK client name {asked:?} is taken on server {server:?}: choose another \
                 --client-name, or leave it out for a unique one"
            )))
        }
        // JACK2 answers a taken exact name with FAILURE | SERVER_FAILED, like an absent
        // server: a client under a name JACK may change tells the two apart.
        Err(jack::Error::ClientError(_))
            if exact.is_some() && Client::new(asked, ClientOptions::NO_START_SERVER).is_ok() =>
        {
            Err(StartError::Failed(format!(
                "JACK client name {asked:?} is taken on server {server:?}: choose another \
                 --client-name, or leave it out for a unique one"
            )))
        }
        Err(jack::Error::ClientError(status))
            if status.intersects(ClientStatus::SERVER_FAILED | ClientStatus::SERVER_ERROR) =>
        {
            Err(StartError::NoServer(format!(
                "no JACK server {server:?} is running (start jackd, or set \
                 JACK_DEFAULT_SERVER to the server's name)"
            )))
        }
        Err(jack::Error::ClientError(status)) => Err(StartError::Failed(format!(
            "JACK server {server:?} refused client {asked:?} ({status:?})"
        ))),
        Err(jack::Error::LibraryError(e)) => Err(StartError::NoServer(format!(
            "cannot load the JACK library: {e}"
        ))),
        Err(e) => Err(StartError::Failed(format!("cannot open JACK client: {e}"))),
    }
}

/// The client's ports.
struct Ports {
    inputs: Vec<Port<AudioIn>>,
    outputs: Vec<Port<AudioOut>>,
    /// Auxiliary output ports, by port, then channel.
    aux: Vec<Vec<Port<AudioOut>>>,
    /// Channel pointers for the plugin, refilled every period (capacity fixed here).
    main_ptrs: Vec<*mut f32>,
    aux_ptrs: Vec<[*mut f32; 2]>,
}

// SAFETY: the pointer lists are scratch space written and read by the process callback only,
// never dereferenced outside it; the ports themselves are `Send`.
unsafe impl Send for Ports {}

impl Ports {
    /// Registers the layout's ports: `input_N`, `output_N`, and `<aux name>_N` per auxiliary
    /// output (`player_1_1`, ...), the names nice-plug's shell gave.
    fn register(client: &Client, layout: &AudioIOLayout) -> Result<Self, String> {
        let port_name =
            |name: &str, n: u32| format!("{}_{n}", name.to_lowercase().replace(' ', "_"));
        let register_err =
            |name: &str, e: jack::Error| format!("cannot register JACK port {name}: {e}");
        let channels = |c: Option<NonZeroU32>| c.map_or(0, NonZeroU32::get);
        let mut inputs = Vec::new();
        for n in 1..=channels(layout.main_input_channels) {
            let name = port_name(&layout.main_input_name(), n);
            inputs.push(
                client
                    .register_port(&name, AudioIn::default())
                    .map_err(|e| register_err(&name, e))?,
            );
        }
        let mut outputs = Vec::new();
        for n in 1..=channels(layout.main_output_channels) {
            let name = port_name(&layout.main_output_name(), n);
            outputs.push(
                client
                    .register_port(&name, AudioOut::default())
                    .map_err(|e| register_err(&name, e))?,
            );
        }
        let mut aux = Vec::new();
        for (index, count) in layout.aux_output_ports.iter().enumerate() {
            let base = layout
                .aux_output_name(index)
                .map_or_else(|| format!("aux {}", index + 1), |n| n.to_string());
            let mut ports = Vec::new();
            for n in 1..=count.get().min(2) {
                let name = port_name(&base, n);
                ports.push(
                    client
                        .register_port(&name, AudioOut::default())
                        .map_err(|e| register_err(&name, e))?,
                );
            }
            aux.push(ports);
        }
        Ok(Self {
            main_ptrs: Vec::with_capacity(outputs.len()),
            aux_ptrs: Vec::with_capacity(aux.len()),
            inputs,
            outputs,
            aux,
        })
    }
}

/// Connects the inputs and outputs as the command line says (and the outputs to the system's
/// playback ports when it says nothing). A connection asked for that fails is an error.
fn connect(
    client: &Client,
    name: &str,
    shell: &Shell,
    layout: &AudioIOLayout,
) -> Result<(), String> {
    let own = |kind: &str, n: usize| {
        let base = if kind == "in" {
            layout.main_input_name()
        } else {
            layout.main_output_name()
        };
        format!("{name}:{}_{n}", base.to_lowercase().replace(' ', "_"))
    };
    let count = |c: Option<NonZeroU32>| c.map_or(0, |c| c.get() as usize);
    // One port for all channels, or a comma-separated list in channel order.
    let targets = |spec: &str, channels: usize| -> Vec<String> {
        if spec.contains(',') {
            spec.split(',').map(|s| s.trim().to_owned()).collect()
        } else {
            vec![spec.to_owned(); channels]
        }
    };
    if let Some(spec) = &shell.connect_jack_inputs {
        let inputs = count(layout.main_input_channels);
        for (n, source) in targets(spec, inputs).iter().take(inputs).enumerate() {
            let ours = own("in", n + 1);
            client.connect_ports_by_name(source, &ours).map_err(|e| {
                format!("--connect-jack-inputs: cannot connect {source} to {ours}: {e}")
            })?;
        }
    }
    let outputs = count(layout.main_output_channels);
    match &shell.connect_jack_outputs {
        Some(spec) => {
            for (n, sink) in targets(spec, outputs).iter().take(outputs).enumerate() {
                let ours = own("out", n + 1);
                client.connect_ports_by_name(&ours, sink).map_err(|e| {
                    format!("--connect-jack-outputs: cannot connect {ours} to {sink}: {e}")
                })?;
            }
        }
        None => {
            // As nice-plug's shell did: to the speakers when there are any, quietly otherwise.
            for n in 1..=outputs {
                let _ =
                    client.connect_ports_by_name(&own("out", n), &format!("system:playback_{n}"));
            }
        }
    }
    Ok(())
}

/// The process callback's state: the hosted plugin and the ports.
struct Process {
    host: Host,
    ports: Ports,
}

impl jack::ProcessHandler for Process {
    fn process(&mut self, _: &Client, ps: &ProcessScope) -> Control {
        let frames = ps.n_frames() as usize;
        rt::guard::no_alloc(|| {
            let ports = &mut self.ports;
            ports.main_ptrs.clear();
            let last_input = ports.inputs.len().saturating_sub(1);
            for (channel, out) in ports.outputs.iter_mut().enumerate() {
                let out = out.as_mut_slice(ps);
                match ports.inputs.get(channel.min(last_input)) {
                    Some(input) => out.copy_from_slice(input.as_slice(ps)),
                    None => out.fill(0.0),
                }
                ports.main_ptrs.push(out.as_mut_ptr());
            }
            ports.aux_ptrs.clear();
            for channels in &mut ports.aux {
                let mut ptrs = [std::ptr::null_mut(); 2];
                for (ptr, port) in ptrs.iter_mut().zip(channels.iter_mut()) {
                    *ptr = port.as_mut_slice(ps).as_mut_ptr();
                }
                ports.aux_ptrs.push(ptrs);
            }
            // SAFETY: every pointer is null (no such channel) or a distinct JACK output port
            // buffer of `frames` samples, valid for this callback.
            unsafe {
                self.host.process(frames, &ports.main_ptrs, &ports.aux_ptrs);
            }
        });
        Control::Continue
    }
}

/// The notification callbacks: they only raise flags the main thread polls.
struct Notify {
    flags: Arc<Flags>,
    /// The rate the plugin was activated at.
    rate: u32,
}

impl jack::NotificationHandler for Notify {
    unsafe fn shutdown(&mut self, _status: ClientStatus, _reason: &str) {
        // Async-signal context: an atomic store only.
        self.flags.shutdown.store(true, Ordering::Relaxed);
    }

    fn sample_rate(&mut self, _: &Client, rate: jack::Frames) -> Control {
        if rate != self.rate {
            self.flags.new_rate.store(rate, Ordering::Relaxed);
        }
        Control::Continue
    }
}
