//! The `wirecheck` command line: clap parses ([`args`]), each command lives in its own
//! file ([`run`]: `run` and `show`; [`targets`]: runs against external targets;
//! [`summary`]: `rules`, `explain`, `zoo`, `fuzz`); [`progress`] draws progress on
//! stderr, [`logging`] routes `tracing` diagnostics there (`RUST_LOG`).

mod args;
mod authoring;
mod bench;
#[cfg(test)]
mod examples;
mod logging;
mod progress;
mod run;
mod summary;
mod sweep;
mod targets;

use args::{Cli, Command};
use clap::{CommandFactory, Parser};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use wirecheck_core::flaws::{Flaw, Flaws};

/// What the commands need, gathered from whichever subcommand's flags.
#[derive(Default)]
pub(crate) struct Args {
    paths: Vec<PathBuf>,
    seed: Option<u64>,
    verbose: bool,
    flaws: Vec<Flaw>,
    markdown: bool,
    jobs: usize,
    jobs_set: bool,
    targets: Vec<PathBuf>,
    hosts: Option<Vec<String>>,
    repeat: usize,
    wall_limit: Option<Duration>,
    /// `--flaw` names as given: the reference's flaws, or with `--target` the target's.
    flaw_names: Vec<String>,
    /// `zoo --target`: run every passed scenario for each flaw, not only to the first kill.
    all: bool,
    /// With `--target`: run a failed scenario once more alone; a pass then is FLAKY.
    retry_failed: bool,
    /// How simulated time passes.
    pace: wirecheck::world::Pace,
}

impl Args {
    fn new(flaw_names: Vec<String>, targets: Vec<PathBuf>, jobs: Option<usize>) -> Args {
        Args {
            jobs: jobs
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
            jobs_set: jobs.is_some(),
            repeat: 1,
            flaw_names,
            targets,
            ..Args::default()
        }
    }

    /// Resolves `--flaw` names against the reference's flaws (not with `--target`: those
    /// are the target's own, checked against its file).
    fn resolve_flaws(mut self) -> Result<Args, String> {
        if self.targets.is_empty() {
            for v in &self.flaw_names {
                let f = Flaw::from_name(v).ok_or_else(|| {
                    let names: Vec<&str> = Flaw::ALL.iter().map(|f| f.name()).collect();
                    format!("unknown flaw `{v}`; flaws are: {}", names.join(", "))
                })?;
                self.flaws.push(f);
            }
        }
        Ok(self)
    }
}

pub(crate) fn flaw_set(flaws: &[Flaw]) -> Flaws {
    flaws.iter().fold(Flaws::none(), |set, f| set.with(*f))
}

/// A usage error found after parsing: printed like clap's own, exit code 2.
pub(crate) fn usage_error(msg: &str) -> ExitCode {
    eprintln!("error: {msg}\n\nFor more information, try '--help'.");
    ExitCode::from(2)
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init();
    match cli.command {
        Command::Run(a) => {
            let mut args = Args::new(a.flaws.clone(), a.target.targets.clone(), a.jobs);
            args.paths = a.paths.clone();
            args.seed = a.seed;
            args.verbose = a.verbose;
            args.markdown = a.markdown;
            args.hosts = a.target.hosts.clone();
            args.repeat = a.target.repeat as usize;
            args.wall_limit = a.target.wall_limit.map(Duration::from_secs_f64);
            args.retry_failed = a.target.retry_failed;
            args.pace = a.pace.unwrap_or_default().into();
            if a.pace.is_some() && !a.target.targets.is_empty() {
                return usage_error(
                    "--pace is how simulated time passes; --target runs in real time (drop --pace)",
                );
            }
            match args.resolve_flaws() {
                Ok(args) => run::cmd_run(args, &a),
                Err(e) => usage_error(&e),
            }
        }
        Command::Show(a) => {
            let mut args = Args::new(a.flaws.clone(), a.targets.clone(), None);
            args.seed = a.seed;
            args.pace = a.pace.unwrap_or_default().into();
            match args.resolve_flaws() {
                Ok(args) => run::cmd_show(args, &a.file, a.format),
                Err(e) => usage_error(&e),
            }
        }
        Command::Rules { markdown } => summary::cmd_rules(markdown),
        Command::Explain { rule } => summary::cmd_explain(&rule),
        Command::Zoo(a) => {
            let mut args = Args::new(a.flaws.clone(), a.targets.clone(), a.jobs);
            args.markdown = a.markdown;
            args.all = a.all;
            args.retry_failed = a.retry_failed;
            match args.resolve_flaws() {
                Ok(args) => summary::cmd_zoo(args),
                Err(e) => usage_error(&e),
            }
        }
        Command::Fuzz(a) => {
            let args = Args::new(a.flaws.clone(), Vec::new(), None);
            match args.resolve_flaws() {
                Ok(args) => summary::cmd_fuzz(&args, a.cases, a.seed, a.out.clone()),
                Err(e) => usage_error(&e),
            }
        }
        Command::Sweep(a) => {
            let args = Args::new(a.flaws.clone(), Vec::new(), a.jobs.map(|j| j as usize));
            match args.resolve_flaws() {
                Ok(args) => sweep::cmd_sweep(&args, &a),
                Err(e) => usage_error(&e),
            }
        }
        Command::New(a) => authoring::cmd_new(&a),
        Command::Schema { of } => authoring::cmd_schema(of),
        Command::Bench(a) => bench::cmd_bench(&a),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "wirecheck",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
    }
}
