//! What every trainer of this crate leaves beside its checkpoints: `metrics.jsonl` (one JSON
//! object per optimiser step: `step`, `loss`, `lr`, `seconds`) and `loss.png` (the loss curve,
//! raw and smoothed, and the learning rate; drawn by [`crate::plot`]).
//!
//! The trainers ([`crate::trainer::Trainer`], [`crate::ar::ArTrainer`],
//! [`crate::tokenizer_train::train_world_tokenizer`]) record every step in a [`TrainLog`] and
//! write both files whenever they write a checkpoint, so the files always describe exactly the
//! steps the checkpoint holds. A run resumed from a checkpoint reads the log back and drops the
//! steps after it (those a killed run did after its last checkpoint are redone), so `step`
//! increases through the file and `seconds` counts on from the earlier run.

use std::io::BufRead;
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::plot::{BLUE, GREEN, LIGHT_BLUE, Legend, Panel, Series, Style};
use crate::{Error, Result};

/// The metrics file beside a checkpoint.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// The loss curve beside a checkpoint.
pub const LOSS_PLOT_FILE: &str = "loss.png";
/// Size of `loss.png`.
pub const LOSS_PLOT_SIZE: (u32, u32) = (1000, 420);

/// One line of `metrics.jsonl`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    /// Steps done after this one (1-based).
    pub step: usize,
    /// The step's training loss.
    pub loss: f64,
    /// The learning rate the step used.
    pub lr: f64,
    /// Seconds of training from the first step of the run (resumed runs count on).
    pub seconds: f64,
}

/// The steps of one run, in memory until they are written beside a checkpoint.
#[derive(Debug, Clone)]
pub struct TrainLog {
    title: String,
    steps: Vec<StepMetrics>,
    started: Option<Instant>,
    offset_s: f64,
}

impl TrainLog {
    /// An empty log, its clock started; `title` heads the loss plot.
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            steps: Vec::new(),
            started: Some(Instant::now()),
            offset_s: 0.0,
        }
    }

    /// Records a finished step (`step` counts steps done, 1-based) at the time since the log
    /// was made (or resumed).
    pub fn record(&mut self, step: usize, loss: f64, lr: f64) {
        let started = *self.started.get_or_insert_with(Instant::now);
        self.steps.push(StepMetrics {
            step,
            loss,
            lr,
            seconds: self.offset_s + started.elapsed().as_secs_f64(),
        });
    }

    /// The steps recorded (and, after [`resume`](Self::resume), read back).
    pub fn steps(&self) -> &[StepMetrics] {
        &self.steps
    }

    /// Continues the log that `dir/metrics.jsonl` holds (if any) at checkpoint step `step`:
    /// lines after that step are dropped, and the clock counts on from the last one kept.
    pub fn resume(&mut self, dir: &Path, step: usize) -> Result<()> {
        let path = dir.join(METRICS_FILE);
        let earlier = if path.is_file() {
            read_metrics(&path)?
        } else {
            Vec::new()
        };
        self.steps = earlier.into_iter().filter(|m| m.step <= step).collect();
        self.offset_s = self.steps.last().map_or(0.0, |m| m.seconds);
        self.started = Some(Instant::now());
        Ok(())
    }

    /// Writes `dir/metrics.jsonl` and `dir/loss.png` (each atomically).
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = dir.join(METRICS_FILE);
        let mut text = String::with_capacity(self.steps.len() * 80);
        for m in &self.steps {
            let line = serde_json::to_string(m).map_err(|e| Error::Format {
                path: path.display().to_string(),
                reason: format!("step {}: {e}", m.step),
            })?;
            text.push_str(&line);
            text.push('\n');
        }
        let tmp = path.with_extension("jsonl.tmp");
        std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        let (width, height) = LOSS_PLOT_SIZE;
        crate::plot::write_png(
            &dir.join(LOSS_PLOT_FILE),
            &loss_panels(&self.title, &self.steps),
            width,
            height,
        )
    }
}

/// Reads a `metrics.jsonl`.
pub fn read_metrics(path: &Path) -> Result<Vec<StepMetrics>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut steps = Vec::new();
    for (number, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        steps.push(serde_json::from_str(&line).map_err(|e| Error::Format {
            path: path.display().to_string(),
            reason: format!("line {}: not a step record: {e}", number + 1),
        })?);
    }
    Ok(steps)
}

/// The panels of `loss.png`: the loss per step (light) with its moving average over about a
/// fiftieth of the run (dark), on a log axis when it spans more than a factor of 20; and the
/// learning rate.
pub fn loss_panels(title: &str, steps: &[StepMetrics]) -> Vec<Panel> {
    let raw: Vec<(f64, f64)> = steps.iter().map(|m| (m.step as f64, m.loss)).collect();
    let window = (steps.len() / 50).max(1);
    let mut smooth = Vec::with_capacity(steps.len());
    let mut sum = 0.0;
    for (i, m) in steps.iter().enumerate() {
        sum += m.loss;
        if i >= window {
            sum -= steps[i - window].loss;
        }
        smooth.push((m.step as f64, sum / (i + 1).min(window) as f64));
    }
    let positive: Vec<f64> = steps.iter().map(|m| m.loss).filter(|l| *l > 0.0).collect();
    let lo = positive.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = positive.iter().copied().fold(0.0, f64::max);
    let log_y = positive.len() == steps.len() && !steps.is_empty() && hi / lo > 20.0;
    // Short runs: the raw loss is the line; longer ones draw it faint under its mean.
    let mut series = vec![if window > 1 {
        Series::new("loss", LIGHT_BLUE, Style::ThinLine, raw)
    } else {
        Series::new("loss", BLUE, Style::Line, raw)
    }];
    if window > 1 {
        series.push(Series::new(
            format!("mean of {window} steps"),
            BLUE,
            Style::Line,
            smooth,
        ));
    }
    let last = steps.last();
    vec![
        Panel {
            title: match last {
                Some(m) => format!("{title}: loss, {} steps, {:.0} s", m.step, m.seconds),
                None => format!("{title}: loss"),
            },
            x_label: "step".into(),
            y_label: if log_y {
                "loss (log)".into()
            } else {
                "loss".into()
            },
            series,
            log_y,
            weight: 2,
            legend: Legend::UpperRight,
        },
        Panel {
            title: "learning rate".into(),
            x_label: "step".into(),
            y_label: "lr".into(),
            series: vec![Series::new(
                "",
                GREEN,
                Style::Line,
                steps.iter().map(|m| (m.step as f64, m.lr)).collect(),
            )],
            log_y: false,
            weight: 1,
            legend: Legend::UpperRight,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_both_files_and_a_resumed_log_drops_the_steps_after_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = TrainLog::new("test");
        for step in 1..=30 {
            log.record(step, 1.0 / step as f64, 1e-3);
        }
        log.write(dir.path()).unwrap();
        let read = read_metrics(&dir.path().join(METRICS_FILE)).unwrap();
        assert_eq!(read.len(), 30);
        assert_eq!(read, log.steps());
        assert!(read.windows(2).all(|w| w[0].seconds <= w[1].seconds));
        let png = image::open(dir.path().join(LOSS_PLOT_FILE)).unwrap();
        assert_eq!((png.width(), png.height()), LOSS_PLOT_SIZE);

        // The checkpoint was at step 20; a resumed run redoes 21.. and the file stays ordered.
        let mut resumed = TrainLog::new("test");
        resumed.resume(dir.path(), 20).unwrap();
        assert_eq!(resumed.steps().len(), 20);
        for step in 21..=25 {
            resumed.record(step, 0.01, 1e-4);
        }
        resumed.write(dir.path()).unwrap();
        let read = read_metrics(&dir.path().join(METRICS_FILE)).unwrap();
        let steps: Vec<usize> = read.iter().map(|m| m.step).collect();
        assert_eq!(steps, (1..=25).collect::<Vec<_>>());
        assert!(read[20].seconds >= read[19].seconds, "the clock counts on");

        std::fs::write(dir.path().join(METRICS_FILE), "{\"step\": 1}\n").unwrap();
        let error = TrainLog::new("x").resume(dir.path(), 5).unwrap_err();
        assert!(error.to_string().contains("line 1"), "{error}");
    }
}
