//! The clap definitions of `faultline fault`: the subcommands, the server
//! flags and the typed fault attributes (durations with units, sent in the
//! API's units). Parsing only: [`super::execute`] runs them.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::PossibleValuesParser;
use faultline_proxies::FaultKind;
use serde_json::{Map, Number, Value};

use crate::api::access::TOKEN_ENV;
use crate::wire::client::{DEFAULT_URL, URL_ENV};

/// Subcommands of `faultline fault`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum FaultCommand {
    /// List proxies and their faults.
    List {
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Show one proxy and its faults in detail.
    Inspect {
        /// The proxy.
        name: String,
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Create a proxy.
    Create {
        /// Its name.
        name: String,
        /// Address to listen on (`host:port`; port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// Address to forward to (`host:port`).
        #[arg(long)]
        upstream: String,
        /// Create it disabled (not listening).
        #[arg(long)]
        disabled: bool,
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Disable an enabled proxy (closing its connections), or enable a disabled one.
    Toggle {
        /// The proxy.
        name: String,
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Delete a proxy.
    Delete {
        /// The proxy.
        name: String,
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Add a fault (a toxic) to a proxy.
    Add {
        /// The proxy.
        proxy: String,
        /// The kind of fault.
        #[arg(long = "type", value_name = "TYPE", value_parser = PossibleValuesParser::new(FaultKind::TYPE_NAMES))]
        kind: String,
        /// Its name (default `<type>_<stream>`).
        #[arg(long)]
        name: Option<String>,
        /// The direction it acts on.
        #[arg(long, default_value = "downstream", value_parser = PossibleValuesParser::new(["upstream", "downstream"]))]
        stream: String,
        /// Probability that it applies to a connection, 0..=1 (default 1).
        #[arg(long, value_parser = parse_probability)]
        toxicity: Option<f64>,
        /// Its attributes.
        #[command(flatten)]
        attributes: Box<AttributeArgs>,
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Change a fault's toxicity or attributes; the others are kept.
    Update {
        /// The proxy.
        proxy: String,
        /// The fault.
        toxic: String,
        /// Probability that it applies to a connection, 0..=1.
        #[arg(long, value_parser = parse_probability)]
        toxicity: Option<f64>,
        /// The attributes to change.
        #[command(flatten)]
        attributes: Box<AttributeArgs>,
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Remove a fault.
    Remove {
        /// The proxy.
        proxy: String,
        /// The fault.
        toxic: String,
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Remove every fault of every proxy and enable every proxy.
    Reset {
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List the links (proxies named `FROM->TO:SERVICE`) and their faults.
    Links {
        /// Print the server's JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List the regions the links name, with their outbound and inbound links.
    Regions {
        /// Print the server's JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Play a schedule on the server's links; prints its id and plan.
    Schedule {
        /// A JSON array of schedule steps, or a scenario file (its
        /// `schedule`, `seed` and `duration` are used).
        file: PathBuf,
        /// The seed of the random parts (overrides the file's).
        #[arg(long)]
        seed: Option<u64>,
        /// How long the schedule lasts (overrides the file's; e.g. 30s).
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
        /// Factor on every schedule time (overrides the file's `time_scale`;
        /// e.g. 0.1 plays a 60 s schedule in 6 s).
        #[arg(long)]
        time_scale: Option<f64>,
        /// Wait until the schedule ends: exit 0 when it finished, 1 when it
        /// failed or was cancelled.
        #[arg(long)]
        wait: bool,
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List the schedules the server remembers, oldest first.
    Schedules {
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Print the server's version (`GET /version`); exits 0 only when it
    /// answers, so it is the container image's health check.
    Version {
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Cancel a running schedule; the server removes every fault it applied.
    Unschedule {
        /// The schedule's id (`sched-1`).
        id: String,
        /// The server.
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// Which server to talk to.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// The API's base URL.
    #[arg(long, env = URL_ENV, default_value = DEFAULT_URL)]
    pub url: String,
    /// Bearer token for a server that requires one.
    #[arg(long, env = TOKEN_ENV, hide_env_values = true)]
    pub token: Option<String>,
}

/// Fault attributes, typed, with units; each applies to the kinds named.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AttributeArgs {
    /// latency: delay added to each chunk (e.g. 250ms).
    #[arg(long, value_parser = parse_duration, help_heading = "Attributes")]
    pub latency: Option<Duration>,
    /// latency: uniform jitter around the delay.
    #[arg(long, value_parser = parse_duration, help_heading = "Attributes")]
    pub jitter: Option<Duration>,
    /// bandwidth: rate in KB/s (0 stalls the stream).
    #[arg(long, value_name = "KB_PER_S", help_heading = "Attributes")]
    pub rate: Option<u64>,
    /// slow_close: delay of the close; slicer: pause between pieces.
    #[arg(long, value_parser = parse_duration, help_heading = "Attributes")]
    pub delay: Option<Duration>,
    /// timeout: time until the connection closes (0: never); reset_peer: time until the reset.
    #[arg(long, value_parser = parse_duration, help_heading = "Attributes")]
    pub timeout: Option<Duration>,
    /// slicer: mean piece size in bytes.
    #[arg(long, value_name = "BYTES", help_heading = "Attributes")]
    pub average_size: Option<u64>,
    /// slicer: variation of the piece size in bytes.
    #[arg(long, value_name = "BYTES", help_heading = "Attributes")]
    pub size_variation: Option<u64>,
    /// limit_data: bytes after which the connection closes.
    #[arg(long, help_heading = "Attributes")]
    pub bytes: Option<u64>,
    /// loss: probability that a chunk is lost, 0..=1.
    #[arg(long, value_parser = parse_probability, help_heading = "Attributes")]
    pub probability: Option<f64>,
    /// loss: probability that a chunk after a lost one is lost too, 0..=1.
    #[arg(long, value_parser = parse_probability, help_heading = "Attributes")]
    pub correlation: Option<f64>,
    /// loss: initial retransmission timeout (default 200ms).
    #[arg(long, value_parser = parse_duration, help_heading = "Attributes")]
    pub rto: Option<Duration>,
    /// blackhole: what healing does with held bytes.
    #[arg(long, help_heading = "Attributes", value_parser = PossibleValuesParser::new(["deliver", "deliver_now", "reset"]))]
    pub on_heal: Option<String>,
}

impl AttributeArgs {
    /// The attributes given, in the API's units for a fault of `kind` (the
    /// slicer's `delay` is in µs, every other duration in ms).
    pub fn to_attributes(&self, kind: &str) -> Map<String, Value> {
        let mut map = Map::new();
        let mut put = |name: &str, value: Option<Value>| {
            if let Some(value) = value {
                map.insert(name.to_owned(), value);
            }
        };
        let millis = |d: Option<Duration>| d.map(|d| units(d, 1_000_000));
        put("latency", millis(self.latency));
        put("jitter", millis(self.jitter));
        put("rate", self.rate.map(Value::from));
        let delay_unit = if kind == "slicer" { 1_000 } else { 1_000_000 };
        put("delay", self.delay.map(|d| units(d, delay_unit)));
        put("timeout", millis(self.timeout));
        put("average_size", self.average_size.map(Value::from));
        put("size_variation", self.size_variation.map(Value::from));
        put("bytes", self.bytes.map(Value::from));
        put(
            "probability",
            self.probability
                .and_then(Number::from_f64)
                .map(Value::Number),
        );
        put(
            "correlation",
            self.correlation
                .and_then(Number::from_f64)
                .map(Value::Number),
        );
        put("rto", millis(self.rto));
        put("on_heal", self.on_heal.clone().map(Value::from));
        map
    }
}

/// A duration in units of `nanos_per_unit`: an integer when whole, else a fraction.
fn units(duration: Duration, nanos_per_unit: u128) -> Value {
    let nanos = duration.as_nanos();
    match u64::try_from(nanos / nanos_per_unit) {
        Ok(whole) if nanos.is_multiple_of(nanos_per_unit) => Value::from(whole),
        _ => Number::from_f64(nanos as f64 / nanos_per_unit as f64)
            .map_or(Value::Null, Value::Number),
    }
}

/// A duration with a unit (`250ms`, `2s`, `1m30s`), or `0`.
fn parse_duration(text: &str) -> Result<Duration, String> {
    if text.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(text)
        .map_err(|err| format!("{err} (write a duration with a unit, e.g. 250ms or 2s)"))
}

/// A probability within 0..=1.
fn parse_probability(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("{text:?} is not a probability within 0..=1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_sent_in_the_kinds_units() {
        let args = AttributeArgs {
            latency: Some(Duration::from_millis(250)),
            jitter: Some(Duration::from_micros(500)),
            delay: Some(Duration::from_millis(2)),
            ..Default::default()
        };
        let attrs = args.to_attributes("latency");
        assert_eq!(attrs["latency"], Value::from(250));
        assert_eq!(attrs["jitter"], serde_json::json!(0.5));
        assert_eq!(args.to_attributes("slicer")["delay"], Value::from(2000));
        assert_eq!(args.to_attributes("slow_close")["delay"], Value::from(2));
    }

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("250").is_err());
    }

    #[test]
    fn probabilities_are_checked_locally() {
        assert_eq!(parse_probability("0.5"), Ok(0.5));
        assert!(parse_probability("1.5").is_err());
        assert!(parse_probability("NaN").is_err());
    }
}
