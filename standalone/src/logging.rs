//! The app's logger: every `tracing` event (ours, nice-plug's) and `log` record (the `jack`
//! crate's) as one line on stderr, `osp-jam: ` first, filtered by `RUST_LOG`.
//!
//! nice-plug's own logger is compiled out (`default-features = false`), so without this its
//! errors vanished. The default filter is `info` with JACK's chatter off (`jack=off`: a
//! missing server makes libjack print several lines before our one clear line;
//! `RUST_LOG=info,jack=info` shows them) and nice-plug's standalone wrapper at `error` (its
//! debug builds warn on every start that standalones cannot report latency, and it says it
//! has no GUI: noise in front of the one line a failure prints).

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The filter when `RUST_LOG` is not set.
const DEFAULT_FILTER: &str = "info,jack=off,nice_plug::wrapper::standalone=error";

/// Installs the logger (once; a second call does nothing).
pub(crate) fn install() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .event_format(Line)
        .try_init();
}

/// `osp-jam: [error: |warning: ]message fields`.
struct Line;

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "osp-jam: ")?;
        match *event.metadata().level() {
            Level::ERROR => write!(writer, "error: ")?,
            Level::WARN => write!(writer, "warning: ")?,
            _ => {}
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
