//! The command line as clap sees it: every subcommand, flag and help text.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

pub const EXIT_CODES: &str = "\
Exit codes:
  0  every scenario passed (with --target, NON-STRICT, INFORMATIONAL, UNIMPLEMENTED
     and N/A count as passed)
  1  a scenario failed (FAILED, ERROR, FLAKY; in simulation also NON-STRICT), or a
     flaw survived (zoo)
  2  usage error, or a file could not be read or loaded (an INVALID scenario: the
     others still run and are reported)";

#[derive(Parser, Debug)]
#[command(
    name = "wirecheck",
    version,
    about = "Test WebSocket request multiplexers and message brokers: YAML scenarios in a \
             deterministic simulation, or in real time against your own target",
    after_help = EXIT_CODES,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run every scenario file under each PATH and print a summary table.
    #[command(after_help = EXIT_CODES)]
    Run(RunArgs),
    /// Run one scenario in simulation and print its sequence diagram and final counters.
    #[command(after_help = EXIT_CODES)]
    Show(ShowArgs),
    /// The coverage table: each rule, its level, its checkers and the scenarios that
    /// exercise it and show its checker firing.
    Rules {
        /// Print the rule table PROTOCOL.md embeds instead.
        #[arg(long)]
        markdown: bool,
    },
    /// What a rule requires, why, which checkers judge it and which scenarios cover it.
    Explain {
        /// A rule id, e.g. MUX-4.
        rule: String,
    },
    /// The kill matrix: the catalog against the reference and against each known bug
    /// (flaw), or with --target against the target's own flaws.
    #[command(after_help = EXIT_CODES)]
    Zoo(ZooArgs),
    /// Generate random scenarios and run each with every checker on; a failing case is
    /// shrunk and written as a YAML scenario that `cargo test` replays.
    #[command(after_help = EXIT_CODES)]
    Fuzz(FuzzArgs),
    /// Run a chaos scenario (`workload:` + `nemesis:`) once per seed and report failures by
    /// rule with their seeds; a failing seed is shrunk to a scripted regression scenario.
    #[command(after_help = EXIT_CODES)]
    Sweep(SweepArgs),
    /// Write a commented starting scenario, scenarios/AREA/NAME.yaml, that runs as it is.
    #[command(after_help = EXIT_CODES)]
    New(NewArgs),
    /// Print the JSON Schema of scenario files (or target files, or the `run --json`
    /// index), for editors and linters: a scenario file's first line
    /// `# yaml-language-server: $schema=PATH` points at it.
    Schema {
        /// Which files.
        #[arg(value_enum, default_value_t)]
        of: SchemaOf,
    },
    /// Measure speed: the scenario catalog's simulated time per wall and CPU second, jumping
    /// over idle time and stepping every tick, and the generator's cases per second
    /// (serial, one core; the figures of BENCHMARKS.md).
    Bench(BenchArgs),
    /// Print a shell completion script, e.g. `wirecheck completions bash > ~/.local/share/bash-completion/completions/wirecheck`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Which scenarios to run, and whether to run them at all.
#[derive(clap::Args, Debug, Default)]
pub struct Selection {
    /// Run only scenarios whose name matches GLOB (repeatable; the glob matches the
    /// whole name and `*` matches anything, `/` included), e.g. `--include 'mux/*'`,
    /// `--include '*timeout*'`.
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Leave out scenarios whose name matches GLOB (repeatable; wins over --include).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Print the selected scenarios' names, one per line, and run nothing.
    #[arg(long)]
    pub list: bool,
    /// Print what would run: each selected scenario with its file, and with --target
    /// whether it applies to each target (and why not). Runs nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Flags of runs against external targets.
#[derive(clap::Args, Debug, Default)]
pub struct TargetFlags {
    /// Run each scenario in real time over loopback against the target FILE describes
    /// (see docs/targets.md), every host of its role replaced by the target (repeatable).
    #[arg(long = "target", value_name = "FILE")]
    pub targets: Vec<PathBuf>,
    /// With --target: replace only these hosts.
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    pub hosts: Option<Vec<String>>,
    /// With --target: run each cell N times; differing verdicts are FLAKY.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
    /// With --target: wall-clock limit per scenario in seconds (default: its duration + 11s).
    #[arg(long, value_name = "SECS", value_parser = positive_secs)]
    pub wall_limit: Option<f64>,
    /// With --target: run a failed scenario once more, alone; if it then passes it is
    /// reported FLAKY instead of failed.
    #[arg(long)]
    pub retry_failed: bool,
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Scenario files or folders (searched for *.yaml).
    #[arg(value_name = "PATH", default_value = "scenarios")]
    pub paths: Vec<PathBuf>,
    /// Override every scenario's seed.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Print each scenario's sequence diagram (with --target: each run as it ends).
    #[arg(long, short)]
    pub verbose: bool,
    /// Switch on a known bug of the reference (see `wirecheck zoo`); repeatable.
    #[arg(long = "flaw", value_name = "NAME")]
    pub flaws: Vec<String>,
    /// With --target: print the matrix as a Markdown table.
    #[arg(long)]
    pub markdown: bool,
    /// Parallel jobs (with --target; default 2).
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,
    /// How simulated time passes (not with --target, which runs in real time).
    #[arg(long, value_enum, value_name = "PACE")]
    pub pace: Option<PaceArg>,
    /// Write a JUnit XML report to FILE (one testcase per scenario per target).
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Write a JSON index to FILE: target → scenario → verdict, rules broken, times,
    /// seed, diagnosis (shape in docs/reports.md).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write a static HTML report into DIR (created if missing): index.html, the matrix
    /// of scenarios × targets, and a page per case with its sequence diagram as SVG,
    /// violations, counters and scenario file (see docs/reports.md).
    #[arg(long, value_name = "DIR")]
    pub html: Option<PathBuf>,
    #[command(flatten)]
    pub select: Selection,
    #[command(flatten)]
    pub target: TargetFlags,
}

#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ShowFormat {
    /// The sequence diagram and counters, as the snapshots hold them.
    #[default]
    Text,
    /// The result as JSON: verdict, rules broken, failures, violations, counters, diagram.
    Json,
    /// The trace as a Mermaid sequenceDiagram (for Markdown), violations highlighted.
    Mermaid,
}

/// `--pace`: how the simulation lets time pass. Both give the same trace, byte for byte.
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PaceArg {
    /// Jump over stretches in which no host can act.
    #[default]
    SkipIdle,
    /// One 1 ms tick at a time, polling every host (slower; for comparison).
    EveryTick,
}

impl From<PaceArg> for wirecheck::world::Pace {
    fn from(p: PaceArg) -> Self {
        match p {
            PaceArg::SkipIdle => wirecheck::world::Pace::SkipIdle,
            PaceArg::EveryTick => wirecheck::world::Pace::EveryTick,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// The scenario file.
    pub file: PathBuf,
    /// Override the scenario's seed.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Switch on a known bug of the reference; repeatable.
    #[arg(long = "flaw", value_name = "NAME")]
    pub flaws: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: ShowFormat,
    /// How simulated time passes.
    #[arg(long, value_enum, value_name = "PACE")]
    pub pace: Option<PaceArg>,
    /// Not supported: `show` runs the simulation only.
    #[arg(long = "target", value_name = "FILE", hide = true)]
    pub targets: Vec<PathBuf>,
}

/// Which files a schema describes.
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SchemaOf {
    #[default]
    Scenario,
    Target,
    /// The JSON index `run --json FILE` writes (docs/reports.md).
    Report,
}

/// The protocol a new scenario speaks.
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NewProtocol {
    /// wirecheck's own protocol (PROTOCOL.md): the reference broker and clients.
    #[default]
    #[value(name = "wirecheck-v1")]
    WirecheckV1,
    /// JSON-RPC 2.0 over WebSocket: the reference JSON-RPC server and a client.
    #[value(name = "jsonrpc-2.0")]
    JsonRpc2,
}

#[derive(clap::Args, Debug)]
pub struct NewArgs {
    /// The scenario's name, AREA/NAME (e.g. `mux/late-reply`): the file is
    /// ROOT/AREA/NAME.yaml.
    pub name: String,
    /// The corpus folder.
    #[arg(long, value_name = "DIR", default_value = "scenarios")]
    pub root: PathBuf,
    /// The protocol the scenario speaks.
    #[arg(long, value_enum, default_value_t)]
    pub protocol: NewProtocol,
}

#[derive(clap::Args, Debug)]
pub struct ZooArgs {
    /// Only these flaws (repeatable; default all).
    #[arg(long = "flaw", value_name = "NAME")]
    pub flaws: Vec<String>,
    /// Print docs/zoo.md instead.
    #[arg(long)]
    pub markdown: bool,
    /// Parallel jobs (default: the number of cores; with --target 2).
    #[arg(long, short, value_name = "N")]
    pub jobs: Option<usize>,
    /// The target's own flaws (`flaws:` in FILE, switched on with WIRECHECK_FLAW=NAME).
    #[arg(long = "target", value_name = "FILE")]
    pub targets: Vec<PathBuf>,
    /// With --target: run every passed scenario for each flaw, not only to the first kill.
    #[arg(long)]
    pub all: bool,
    /// With --target: run a failed scenario once more alone; a pass then is FLAKY.
    #[arg(long)]
    pub retry_failed: bool,
}

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Scenario files or folders (searched for *.yaml).
    #[arg(value_name = "PATH", default_value = "scenarios")]
    pub paths: Vec<PathBuf>,
    /// Only scenarios whose name matches GLOB (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Leave out scenarios whose name matches GLOB (repeatable).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Rounds of the catalog per pace; the fastest round of each is reported.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// Generated scenarios to time (0: skip the generator).
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub fuzz_cases: u32,
    /// Seed of the generator (default 20261122, as `fuzz`).
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Print Markdown tables (BENCHMARKS.md's) instead.
    #[arg(long)]
    pub markdown: bool,
}

#[derive(clap::Args, Debug)]
pub struct FuzzArgs {
    /// How many scenarios to generate.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub cases: u32,
    /// Seed of the generator (default 20261122).
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Switch on a known bug of the reference; repeatable.
    #[arg(long = "flaw", value_name = "NAME")]
    pub flaws: Vec<String>,
    /// Where a shrunk failing case is written (default scenarios/regressions/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    /// The chaos scenario file (with `workload:`; `nemesis:` optional).
    pub file: PathBuf,
    /// The seeds: a count N (seeds 0..N) or a range A..B (B excluded).
    #[arg(long, value_name = "N|A..B", default_value = "1000", value_parser = wirecheck::sweep::Seeds::parse)]
    pub seeds: wirecheck::sweep::Seeds,
    /// Run only part K of N of the seeds (every Nth seed from the Kth), e.g. `2/4`, so
    /// several machines share one range.
    #[arg(long, value_name = "K/N", value_parser = wirecheck::sweep::Partition::parse)]
    pub partition: Option<wirecheck::sweep::Partition>,
    /// Parallel jobs (default: the number of cores).
    #[arg(long, short, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    /// Switch on a known bug of the reference (see `wirecheck zoo`); repeatable.
    #[arg(long = "flaw", value_name = "NAME")]
    pub flaws: Vec<String>,
    /// Do not shrink failing seeds (only report them).
    #[arg(long)]
    pub no_shrink: bool,
    /// Most runs spent shrinking one failing seed.
    #[arg(long, value_name = "RUNS", default_value_t = 300)]
    pub shrink_budget: u32,
    /// Where shrunk regressions are written (default scenarios/regressions/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

fn positive_secs(v: &str) -> Result<f64, String> {
    v.parse::<f64>()
        .ok()
        .filter(|n| *n > 0.0 && n.is_finite())
        .ok_or_else(|| format!("wants seconds above 0, got `{v}`"))
}
