//! WAV in and out: decodes 8/16/24/32-bit integer or 32-bit float files to planar `f32`, and
//! writes 32-bit float files. Everything happens before or after processing, so `--time`
//! never counts it.

use anyhow::{Context, Result, bail};
use std::path::Path;

/// Decoded audio, planar. A mono file keeps one channel here; the renderer feeds it as dual
/// mono and writes one channel back.
#[derive(Debug)]
pub(crate) struct Audio {
    /// One vector per channel (one or two), all the same length.
    pub(crate) channels: Vec<Vec<f32>>,
    /// Sample rate in Hz.
    pub(crate) sample_rate: u32,
}

impl Audio {
    /// Frames per channel.
    pub(crate) fn frames(&self) -> usize {
        self.channels.first().map_or(0, Vec::len)
    }
}

/// Reads a mono or stereo WAV file.
pub(crate) fn read(path: &Path) -> Result<Audio> {
    let mut reader =
        hound::WavReader::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels);
    if !(1..=2).contains(&channels) {
        bail!(
            "{}: {channels} channels; only mono and stereo are supported",
            path.display()
        );
    }
    // Straight into planar buffers sized from the header: no interleaved copy of the file
    // (at 60 s stereo that copy is 23 MB of page faults, more than the I/O itself).
    let frames = reader.duration() as usize;
    let mut planar = vec![Vec::with_capacity(frames); channels];
    let mut deinterleave = |n: usize, sample: f32| planar[n % channels].push(sample);
    let damaged = || format!("{}: damaged sample data", path.display());
    match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => {
            for (n, sample) in reader.samples::<f32>().enumerate() {
                deinterleave(n, sample.with_context(damaged)?);
            }
        }
        (hound::SampleFormat::Int, bits @ (8 | 16 | 24 | 32)) => {
            // Full scale is 2^(bits-1); dividing by a power of two is exact in f32 for 8-24 bit
            // (32-bit integers keep their top 24 bits, which is all an f32 can hold).
            let scale = 1.0 / f64::from(1u32 << (bits - 1));
            for (n, sample) in reader.samples::<i32>().enumerate() {
                deinterleave(n, (f64::from(sample.with_context(damaged)?) * scale) as f32);
            }
        }
        (format, bits) => bail!(
            "{}: unsupported sample format {format:?} {bits}-bit \
             (16/24/32-bit integer or 32-bit float)",
            path.display()
        ),
    }
    // A truncated last frame (a damaged file) is dropped so the channels stay equal.
    let frames = planar.iter().map(Vec::len).min().unwrap_or(0);
    for channel in &mut planar {
        channel.truncate(frames);
    }
    Ok(Audio {
        channels: planar,
        sample_rate: spec.sample_rate,
    })
}

/// Writes `audio` as a 32-bit float WAV file with its channel count and rate.
pub(crate) fn write(path: &Path, audio: &Audio) -> Result<()> {
    let spec = hound::WavSpec {
        channels: u16::try_from(audio.channels.len()).context("too many channels")?,
        sample_rate: audio.sample_rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let context = || format!("cannot write {}", path.display());
    let mut writer = hound::WavWriter::create(path, spec).with_context(context)?;
    for frame in 0..audio.frames() {
        for channel in &audio.channels {
            writer.write_sample(channel[frame]).with_context(context)?;
        }
    }
    writer.finalize().with_context(context)
}
