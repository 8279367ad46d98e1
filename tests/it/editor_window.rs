//! The standalone's window on a virtual display (Xvfb, Mesa's software OpenGL): with a display
//! named, the app opens the plugin's editor in a window titled "OSP Jam" (our JACK shell, and
//! nice-plug's shell on the dummy backend), and what the window shows is a drawn screen, not a
//! blank one (many distinct colours in an `xwd` screenshot); Ctrl-C with the window open
//! leaves and exits 0 on both shells.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{KillOnDrop, bundled, interrupt_and_expect_clean_exit, jackd, tempdir};

/// The JACK server name the JACK tests share (they run one at a time).
const JACK_SERVER: &str = "osp_jam_it";

/// A virtual X display; stopped on drop.
struct Xvfb {
    _server: KillOnDrop,
    display: String,
}

impl Xvfb {
    /// Starts Xvfb on a free display number (it picks and prints it).
    fn start() -> Self {
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1600x1000x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb (Debian xvfb; scripts/install-deps.sh installs it)");
        let stdout = child.stdout.take().expect("Xvfb stdout");
        let server = KillOnDrop(child);
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read Xvfb's display number");
        let number: u32 = line
            .trim()
            .parse()
            .expect("Xvfb printed its display number");
        Self {
            _server: server,
            display: format!(":{number}"),
        }
    }

    /// The window titled `title` (its id and size), waiting for it up to 60 s.
    fn window(&self, title: &str, app: &mut KillOnDrop) -> (String, u32, u32) {
        let wanted = format!("\"{title}\"");
        let start = Instant::now();
        loop {
            let tree = Command::new("xwininfo")
                .args(["-root", "-tree"])
                .env("DISPLAY", &self.display)
                .output()
                .expect("run xwininfo (Debian x11-utils)");
            let text = String::from_utf8_lossy(&tree.stdout);
            // `     0x200003 "OSP Jam": ()  1280x800+0+0  +0+0`
            if let Some(line) = text.lines().find(|line| line.contains(&wanted)) {
                let id = line
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let size = line
                    .split_whitespace()
                    .find(|word| word.contains('x') && word.contains('+'))
                    .and_then(|word| word.split('+').next())
                    .and_then(|size| size.split_once('x'))
                    .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
                    .unwrap_or((0, 0));
                return (id, size.0, size.1);
            }
            if let Ok(Some(status)) = app.0.try_wait() {
                panic!("the app exited ({status}) without a window titled {title}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no window titled {title} after 60 s:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Distinct colours in a screenshot of window `id`, saved to `png`.
    fn colours(&self, id: &str, png: &std::path::Path) -> u32 {
        let xwd = Command::new("xwd")
            .args(["-silent", "-id", id])
            .env("DISPLAY", &self.display)
            .output()
            .expect("run xwd (Debian x11-apps)");
        assert!(xwd.status.success(), "xwd failed");
        let mut convert = Command::new("convert")
            .args(["xwd:-", "-write"])
            .arg(png)
            .args(["-format", "%k", "info:"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run convert (Debian imagemagick)");
        {
            use std::io::Write;
            let mut stdin = convert.stdin.take().expect("convert stdin");
            stdin.write_all(&xwd.stdout).expect("feed convert");
        }
        let out = convert.wait_with_output().expect("convert");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("convert printed a colour count")
    }
}

/// Waits for the editor to have drawn: its screenshot keeps changing until the first frames
/// are up, so it is taken once the count stops growing (bounded at 20 s).
fn settled_colours(x: &Xvfb, id: &str, png: &std::path::Path) -> u32 {
    let start = Instant::now();
    let mut last = 0;
    loop {
        std::thread::sleep(Duration::from_millis(700));
        let now = x.colours(id, png);
        if (now >= 64 && now == last) || start.elapsed() > Duration::from_secs(20) {
            return now;
        }
        last = now;
    }
}

fn check_window(x: &Xvfb, app: &mut KillOnDrop, name: &str) {
    let (id, width, height) = x.window("OSP Jam", app);
    assert!(
        width >= 800 && height >= 500,
        "the window is {width}x{height}"
    );
    let png = tempdir(name).join("editor.png");
    let colours = settled_colours(x, &id, &png);
    // A blank or single-colour window has a handful; the editor's text, meters and widgets
    // anti-aliased on its panels give hundreds.
    assert!(
        colours >= 64,
        "the window shows {colours} colours ({})",
        png.display()
    );
}

/// On nice-plug's shell (dummy backend) the window opens, and Ctrl-C with it open leaves the
/// room and exits 0 (within 10 s), as closing the window does.
#[test]
fn editor_window_opens_on_the_dummy_backend_and_ctrl_c_leaves_cleanly() {
    let x = Xvfb::start();
    let app = Command::new(bundled("osp-jam"))
        .args(["--backend", "dummy", "--room", "window-ctrl-c"])
        .args(["--secret", "s3cret", "--listen", "127.0.0.1:0"])
        .env("DISPLAY", &x.display)
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the standalone");
    let mut app = KillOnDrop(app);
    check_window(&x, &mut app, "editor-window-dummy");
    interrupt_and_expect_clean_exit(&mut app, "osp-jam on the dummy backend with its window");
}

#[test]
fn editor_window_opens_on_jack_and_ctrl_c_still_leaves_cleanly() {
    let x = Xvfb::start();
    let server = JACK_SERVER.to_owned();
    let _jackd = jackd(&server, 48_000, 128);
    let app = Command::new(bundled("osp-jam"))
        .args(["--backend", "jack"])
        .env("DISPLAY", &x.display)
        .env_remove("WAYLAND_DISPLAY")
        .env("JACK_DEFAULT_SERVER", &server)
        .env("JACK_NO_START_SERVER", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the standalone");
    let mut app = KillOnDrop(app);
    check_window(&x, &mut app, "editor-window-jack");
    interrupt_and_expect_clean_exit(&mut app, "osp-jam with its window");
}
