//! The `regbridge` command line: the only place that knows about arguments, the terminal, progress
//! bars and exit codes.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use regbridge::check::check;
use regbridge::config::Config;
use regbridge::findings::{Language, Severity};
use regbridge::intake::{take_in, Assets, FileContext};
use regbridge::run::{run_as, HttpPulls, NoProgress, Progress, RunSummary};

/// mimalloc instead of the system allocator: a run allocates and frees many small strings on both
/// cores, and glibc's allocator spent a fifth of a million-record run's CPU time in the kernel.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "regbridge",
    version,
    about = "Validates, links and publishes child-labour case records from Kosovo's registries"
)]
struct Cli {
    /// Print nothing but errors.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Print a machine-readable JSON summary on standard output.
    #[arg(long, global = true)]
    json: bool,
    /// More log output on standard error (repeat for more).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Perform one full run: pull the HTTP sources, read, validate, link, publish, alert.
    Run {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        /// Do not pull the HTTP sources; publish the records earlier pulls stored.
        #[arg(long)]
        no_pull: bool,
    },
    /// Check the configuration and every file it names; print each problem with file, line and column.
    Check {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        /// Also try every source once (the first page of each API, the newest file of each
        /// folder) and show its status, records and schema drift; nothing is stored.
        #[arg(long)]
        connect: bool,
    },
    /// Pull sources into the state database without publishing: new exports of a folder, new and
    /// changed records of an API (resuming an interrupted pull).
    Pull {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        /// Ask the APIs for every record, not only what changed since the last pull.
        #[arg(long)]
        full: bool,
        /// Sources to pull (default: every source).
        sources: Vec<String>,
    },
    /// Dry run of one export file through a source's checks; prints the findings, writes nothing.
    Validate {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        /// Source name from the config.
        #[arg(long)]
        source: String,
        /// Language of the messages.
        #[arg(long, default_value = "en")]
        lang: Language,
        file: PathBuf,
    },
    /// Linkage accuracy of the last run against ground truth (`truth.csv` from `regbridge synth`).
    Eval {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        /// CSV with `source`, `record_id` and `child` columns.
        #[arg(long)]
        truth: PathBuf,
        /// Also write the standardised records linkage sees, with their true child, to this CSV (to
        /// run another linker on the same input, as bench/ does with Splink). Synthetic data only:
        /// the file holds names and dates of birth.
        #[arg(long)]
        linkage_input: Option<PathBuf>,
    },
    /// The clerical review queue: list uncertain pairs, record decisions applied in every later run.
    Review {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        #[command(subcommand)]
        action: ReviewAction,
    },
    /// Why two records (`source:record_id`) were or were not linked: the match weight of every comparison.
    Explain {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        a: String,
        b: String,
    },
    /// The next firing times of every scheduled job (source pulls, publication, digests), to check
    /// cron expressions before deploying.
    Schedule {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        /// Start after this time: RFC 3339 (2027-03-27T00:00:00+01:00), or a local time in the
        /// configured time zone (2027-03-27T00:00). Default: now.
        #[arg(long)]
        from: Option<String>,
        /// Firings to list per job.
        #[arg(long, default_value_t = 5)]
        count: usize,
    },
    /// The data-quality digests: preview the next ones, or send them now.
    Alerts {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        #[command(subcommand)]
        action: AlertsAction,
    },
    /// Run the scheduled jobs (source pulls, publication, digests) until stopped with SIGTERM or
    /// Ctrl-C; one daemon per state database.
    Daemon {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
    },
    /// What regbridge has done: the last runs, each source's inputs, open findings per institution,
    /// and pending reviews (from the state database; safe while a run is writing).
    Status {
        #[arg(long, default_value = "config.toml")]
        config: PathBuf,
        /// Runs to list.
        #[arg(long, default_value_t = 10)]
        runs: usize,
    },
    /// Generate realistic synthetic exports of the three institutions, with ground truth and a config.
    Synth {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 3000)]
        records: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// The folder holding schemas/, mappings/, rules/, reference/ and templates/.
        #[arg(long, default_value = ".")]
        assets: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum AlertsAction {
    /// Render the next digests (what is new, still open, resolved) without sending or marking
    /// anything: to the terminal, or as .eml files with --out.
    Preview {
        /// Only this institution's digest (its key in the configuration, or `committee`).
        #[arg(long)]
        institution: Option<String>,
        /// Render in this language instead of each reader's own.
        #[arg(long)]
        lang: Option<Language>,
        /// Write each digest as an .eml file into this folder.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Plan the digests and send them now, with everything else waiting in the outbox.
    Send,
}

#[derive(Debug, Subcommand)]
enum ReviewAction {
    /// Pairs the last run was unsure about, most likely first (record references only, no names).
    List {
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Record that two records (`source:record_id`) are the same child or different children.
    Decide {
        a: String,
        b: String,
        #[arg(
            long,
            conflicts_with = "different",
            required_unless_present = "different"
        )]
        same: bool,
        #[arg(long)]
        different: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    small_pages_only();
    match dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("regbridge: {}", one_line(&e));
            ExitCode::from(2)
        }
    }
}

/// Transparent huge pages off for this process. A run takes fresh memory stage after stage as the
/// allocator hands freed memory back; with huge pages every fresh 2 MiB region is faulted in and
/// zeroed whole. On a virtual machine that backs its memory lazily this tripled a million-record
/// run's kernel time (BENCHMARKS.md); elsewhere it made no measurable difference.
fn small_pages_only() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::debug!(error = %e, "transparent huge pages stay on");
    }
}

fn one_line(e: &anyhow::Error) -> String {
    e.chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

fn init_logging(cli: &Cli) {
    let default = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("REGBRIDGE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal: journald and log files get plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

fn dispatch(cli: &Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::Run { config, no_pull } => run_command(cli, config, *no_pull),
        Command::Check { config, connect } => check_command(cli, config, *connect),
        Command::Pull {
            config,
            full,
            sources,
        } => pull_command(cli, config, *full, sources),
        Command::Validate {
            config,
            source,
            lang,
            file,
        } => validate_command(cli, config, source, *lang, file),
        Command::Eval {
            config,
            truth,
            linkage_input,
        } => eval_command(cli, config, truth, linkage_input.as_deref()),
        Command::Review { config, action } => review_command(cli, config, action),
        Command::Explain { config, a, b } => explain_command(cli, config, a, b),
        Command::Status { config, runs } => status_command(cli, config, *runs),
        Command::Alerts { config, action } => alerts_command(cli, config, action),
        Command::Daemon { config } => daemon_command(cli, config),
        Command::Schedule {
            config,
            from,
            count,
        } => schedule_command(cli, config, from.as_deref(), *count),
        Command::Synth {
            out,
            records,
            seed,
            assets,
        } => synth_command(cli, out, *records, *seed, assets),
    }
}

/// Progress bars on standard error when it is a terminal.
struct Bars {
    bar: ProgressBar,
}

impl Bars {
    fn new(enabled: bool) -> Bars {
        let bar = ProgressBar::hidden();
        if enabled {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        Bars { bar }
    }
}

impl Progress for Bars {
    fn stage(&self, name: &str, total: Option<u64>) {
        let style = match total {
            Some(_) => ProgressStyle::with_template("{msg:>16} [{bar:40}] {pos}/{len}"),
            None => ProgressStyle::with_template("{msg:>16} {spinner}"),
        };
        if let Ok(style) = style {
            self.bar.set_style(style.progress_chars("=> "));
        }
        self.bar.reset();
        self.bar.set_length(total.unwrap_or(0));
        self.bar.set_message(name.to_string());
        self.bar.tick();
    }

    fn advance(&self, steps: u64) {
        self.bar.inc(steps);
    }
}

fn show_progress(cli: &Cli) -> bool {
    !cli.quiet && !cli.json && std::io::stderr().is_terminal()
}

fn run_command(cli: &Cli, config_path: &Path, no_pull: bool) -> Result<ExitCode> {
    let config = Config::load(config_path)?;
    let pulls = if no_pull {
        HttpPulls::None
    } else {
        HttpPulls::All
    };
    let summary = if show_progress(cli) {
        let bars = Bars::new(true);
        let summary = run_as(&config, &bars, "run", pulls);
        bars.bar.finish_and_clear();
        summary
    } else {
        run_as(&config, &NoProgress, "run", pulls)
    }?;
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else if !cli.quiet {
        print_summary(&summary, &config);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_summary(summary: &RunSummary, config: &Config) {
    println!(
        "regbridge run {} — published to {}",
        summary.run_id,
        summary.published_to.display()
    );
    println!();
    println!(
        "{:<16} {:>6} {:>10} {:>10} {:>12}",
        "source", "files", "received", "accepted", "quarantined"
    );
    let (mut r, mut a, mut q) = (0, 0, 0);
    for (name, c) in &summary.sources {
        println!(
            "{:<16} {:>6} {:>10} {:>10} {:>12}",
            name, c.files, c.received, c.accepted, c.quarantined
        );
        for error in &c.errors {
            println!("{:<16} ! {error}", "");
        }
        r += c.received;
        a += c.accepted;
        q += c.quarantined;
    }
    println!("{:<16} {:>6} {:>10} {:>10} {:>12}", "total", "", r, a, q);
    println!();
    println!("unique children: {}", summary.unique_children);
    let errors = summary.findings.get("error").copied().unwrap_or(0);
    let warnings = summary.findings.get("warning").copied().unwrap_or(0);
    let per: Vec<String> = summary
        .findings_by_institution
        .iter()
        .map(|(i, n)| format!("{i} {n}"))
        .collect();
    println!(
        "findings: {errors} errors, {warnings} warnings ({})",
        per.join(", ")
    );
    let destination = match (&config.alerts.transport, &config.alerts.outbox_dir) {
        (regbridge::config::AlertTransport::Outbox, Some(dir)) => {
            format!("outbox {}", dir.display())
        }
        _ => "SMTP".to_string(),
    };
    println!("emails written: {} ({destination})", summary.emails_written);
    for e in &summary.email_errors {
        println!("  not delivered: {e}");
    }
}

fn check_command(cli: &Cli, config_path: &Path, connect: bool) -> Result<ExitCode> {
    let report = check(config_path);
    if connect && report.problems.is_empty() {
        return connect_command(cli, config_path);
    }
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for p in &report.problems {
            println!("{}", p.message);
        }
        if !cli.quiet {
            if report.problems.is_empty() {
                println!("ok: {} files checked, no problems", report.checked.len());
            } else {
                println!("{} problem(s)", report.problems.len());
                if connect {
                    println!("no source was tried: fix the problems above first");
                }
            }
        }
    }
    Ok(if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `check --connect`: one try of every source, nothing stored.
fn connect_command(cli: &Cli, config_path: &Path) -> Result<ExitCode> {
    let config = Config::load(config_path)?;
    let found = regbridge::check::connect(&config);
    let failed = found.iter().filter(|f| f.error.is_some()).count();
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&found)?);
    } else {
        for f in &found {
            let what = match (&f.error, f.status, f.files) {
                (Some(e), _, _) => format!("FAILED: {e}"),
                (None, Some(status), _) => format!(
                    "HTTP {status} in {:.2} s; {} records on the first page{}",
                    f.seconds,
                    f.records,
                    if f.more_pages {
                        ", more pages follow"
                    } else {
                        ""
                    }
                ),
                (None, None, files) => format!(
                    "{} files; {} records in the newest",
                    files.unwrap_or(0),
                    f.records
                ),
            };
            println!("{}: {} — {what}", f.source, f.location);
            if f.error.is_none() {
                if f.unknown_fields.is_empty() && f.missing_fields.is_empty() {
                    println!("  schema: as described");
                }
                for u in &f.unknown_fields {
                    println!("  schema drift: unknown field {u}");
                }
                for m in &f.missing_fields {
                    println!("  schema drift: missing field {m}");
                }
            }
        }
        if !cli.quiet {
            println!(
                "{} sources tried, {failed} failed (nothing stored)",
                found.len()
            );
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn alerts_command(cli: &Cli, config_path: &Path, action: &AlertsAction) -> Result<ExitCode> {
    let config = Config::load(config_path)?;
    match action {
        AlertsAction::Send => {
            let delivery =
                regbridge::run::send_digests(&config, "alerts", regbridge::run::Backoff::Ignore)?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&delivery)?);
            } else if !cli.quiet {
                println!("sent: {}", delivery.sent);
                for e in &delivery.errors {
                    println!("  not delivered: {e}");
                }
            }
            Ok(if delivery.errors.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        AlertsAction::Preview {
            institution,
            lang,
            out,
        } => {
            let digests = regbridge::run::preview_digests(&config, *lang)?;
            let chosen: Vec<_> = digests
                .iter()
                .filter(|(key, _)| institution.as_ref().is_none_or(|i| i == key))
                .collect();
            if let Some(dir) = out {
                let outbox =
                    regbridge_connectors::sink::mail::MailTransport::Outbox { dir: dir.clone() };
                for (_, mail) in &chosen {
                    outbox.send(mail)?;
                }
                if !cli.quiet {
                    println!(
                        "{} digests written to {} (nothing sent)",
                        chosen.len(),
                        dir.display()
                    );
                }
            } else if cli.json {
                println!("{}", serde_json::to_string_pretty(&chosen)?);
            } else {
                for (key, mail) in &chosen {
                    println!("==== {key}: to {}", mail.to.join(", "));
                    println!("Subject: {}\n", mail.subject);
                    println!("{}", mail.text);
                }
                if chosen.is_empty() && !cli.quiet {
                    println!("nothing to tell: no digest would go out now");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn pull_command(cli: &Cli, config_path: &Path, full: bool, wanted: &[String]) -> Result<ExitCode> {
    let config = Config::load(config_path)?;
    let names: Vec<String> = if wanted.is_empty() {
        config.sources.keys().cloned().collect()
    } else {
        wanted.to_vec()
    };
    let mut summaries = Vec::new();
    let mut failed = 0;
    for name in &names {
        let options = regbridge::pull::PullOptions { full };
        match regbridge::run::pull(&config, name, options) {
            Ok(summary) => summaries.push(serde_json::to_value(&summary)?),
            Err(e) => {
                failed += 1;
                eprintln!("regbridge: {e}");
                summaries.push(serde_json::json!({"source": name, "error": e.to_string()}));
            }
        }
    }
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&summaries)?);
    } else if !cli.quiet {
        for s in &summaries {
            let name = s["source"].as_str().unwrap_or("?");
            if s.get("error").is_some() {
                continue;
            }
            match s.get("http") {
                Some(h) => println!(
                    "{name}: {} pages, {} records ({} new, {} changed, {} withdrawn){}",
                    h["pages"],
                    h["records"],
                    h["new_records"],
                    h["changed_records"],
                    h["withdrawn"],
                    if h["resumed"] == true {
                        ", resumed"
                    } else {
                        ""
                    }
                ),
                None => println!("{name}: {} files, {} new", s["files"], s["new_inputs"]),
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn validate_command(
    cli: &Cli,
    config_path: &Path,
    source: &str,
    lang: Language,
    file: &Path,
) -> Result<ExitCode> {
    let config = Config::load(config_path)?;
    let source_config = config
        .sources
        .get(source)
        .with_context(|| format!("no source \"{source}\" in {}", config_path.display()))?;
    let assets = Assets::load(&config)?;
    let source_assets = assets
        .source(source)
        .with_context(|| format!("no schema or mapping loaded for \"{source}\""))?;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let decoded = regbridge_connectors::decode::decode(&bytes, &source_config.format);
    let file_name = file.file_name().map_or_else(
        || file.display().to_string(),
        |n| n.to_string_lossy().to_string(),
    );
    let ctx = FileContext {
        source,
        institution: &source_config.institution,
        file: &file_name,
        format: &source_config.format,
        as_of: chrono::Utc::now().date_naive(),
    };
    let outcome = take_in(&ctx, decoded, source_assets, &assets);
    let mut findings = outcome.findings.clone();
    findings.sort();
    if cli.json {
        let value = serde_json::json!({
            "file": file_name,
            "received": outcome.received,
            "accepted": outcome.accepted.len(),
            "quarantined": outcome.quarantined.len(),
            "findings": findings,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    for f in &findings {
        let message = assets
            .rules
            .rules
            .iter()
            .find(|r| r.id == f.rule)
            .map(|r| r.render(lang, f.field.as_deref(), f.detail.as_deref()))
            .unwrap_or_default();
        let id = f
            .record_id
            .as_deref()
            .map(|i| format!(" ({i})"))
            .unwrap_or_default();
        let severity = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        println!(
            "{}, {}{id}: {severity} {}: {message}",
            f.file, f.location, f.rule
        );
    }
    if !cli.quiet {
        println!(
            "{}: {} records received, {} would be accepted, {} quarantined; {} findings (nothing written)",
            file_name,
            outcome.received,
            outcome.accepted.len(),
            outcome.quarantined.len(),
            findings.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn record_ref(text: &str) -> Result<(String, String)> {
    let (source, record) = text.split_once(':').with_context(|| {
        format!("\"{text}\" is not source:record_id (e.g. police:PK-2025-000123)")
    })?;
    Ok((source.to_string(), record.to_string()))
}

fn review_command(cli: &Cli, config_path: &Path, action: &ReviewAction) -> Result<ExitCode> {
    use regbridge::review::{read_queue, record_decision, Decision};
    let config = Config::load(config_path)?;
    let state = &config.run.state_dir;
    match action {
        ReviewAction::List { limit } => {
            let queue = read_queue(state)?;
            if cli.json {
                let rows: Vec<serde_json::Value> = queue
                    .iter()
                    .take(*limit)
                    .map(|p| serde_json::json!({"probability": p.probability, "a": format!("{}:{}", p.a.0, p.a.1), "b": format!("{}:{}", p.b.0, p.b.1)}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(ExitCode::SUCCESS);
            }
            println!(
                "{} pairs wait for review (showing {})",
                queue.len(),
                queue.len().min(*limit)
            );
            for p in queue.iter().take(*limit) {
                println!(
                    "{:.3}  {}:{}  {}:{}",
                    p.probability, p.a.0, p.a.1, p.b.0, p.b.1
                );
            }
            println!(
                "decide with: regbridge review decide SOURCE:ID SOURCE:ID --same | --different"
            );
        }
        ReviewAction::Decide {
            a,
            b,
            same,
            different,
        } => {
            let decision = match (same, different) {
                (true, _) => Decision::Same,
                _ => Decision::Different,
            };
            let (a, b) = (record_ref(a)?, record_ref(b)?);
            let at = chrono::Utc::now().to_rfc3339();
            let store = regbridge::state::StateStore::open_writer(state, "regbridge review")?;
            regbridge::review::import_decisions_file(&store, state)?;
            record_decision(&store, &a, &b, decision, &at)?;
            if !cli.quiet {
                println!("recorded; the next run applies it");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn explain_command(cli: &Cli, config_path: &Path, a: &str, b: &str) -> Result<ExitCode> {
    use regbridge::linkage::probabilistic::ProbabilisticLinker;
    let config = Config::load(config_path)?;
    let (ra, rb) = (record_ref(a)?, record_ref(b)?);
    let records = regbridge::run::link_records(&config)?;
    let find = |key: &(String, String)| {
        records.iter().position(|(k, _)| k == key).with_context(|| {
            format!(
                "{}:{} is not an accepted record of this configuration",
                key.0, key.1
            )
        })
    };
    let (i, j) = (find(&ra)?, find(&rb)?);
    let settings = regbridge::linkage::LinkageConfig::for_config(&config)?.probabilistic;
    let linker = ProbabilisticLinker {
        settings,
        decisions: regbridge::review::read_decisions_in(&config.run.state_dir)?,
    };
    let link_records: Vec<_> = records.into_iter().map(|(_, r)| r).collect();
    let e = linker.explain(&link_records, i, j);
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&e)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{a}  ~  {b}");
    println!();
    println!("{:<18} {:>6} {:>10}", "comparison", "level", "weight");
    for (name, level, weight) in &e.comparisons {
        let level = level.map_or("-".to_string(), |l| l.to_string());
        println!("{name:<18} {level:>6} {weight:>+10.2}");
    }
    println!(
        "{:<18} {:>6} {:>+10.2}",
        "name frequency", "", e.name_frequency
    );
    println!("{:<18} {:>6} {:>+10.2}", "prior", "", e.prior);
    println!();
    if e.competing_odds > 0.0 {
        println!(
            "pair probability {:.4}; competing candidates (records that cannot be the same child) \
             with summed odds {:.2}",
            e.pair_probability, e.competing_odds
        );
    }
    println!(
        "match probability {:.4} (links at {:.2}); {}",
        e.probability,
        e.link_probability,
        if e.candidates {
            "blocking made them a candidate pair"
        } else {
            "blocking never compared them"
        }
    );
    println!(
        "the run {} them in one child",
        if e.same_child { "puts" } else { "does not put" }
    );
    Ok(ExitCode::SUCCESS)
}

fn daemon_command(cli: &Cli, config_path: &Path) -> Result<ExitCode> {
    let config = Config::load(config_path)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the daemon's runtime")?;
    let settings = regbridge::daemon::DaemonSettings::default();
    let report = runtime.block_on(regbridge::daemon::daemon(
        config,
        settings,
        stop_requested(),
    ))?;
    // Leave a job abandoned at the stop to the process exit instead of waiting for it.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if !cli.quiet {
        println!(
            "daemon stopped: {} jobs run, {} failed{}",
            report.jobs_run,
            report.jobs_failed,
            if report.abandoned {
                "; the job under way was left (it will show as abandoned)"
            } else {
                ""
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Completes on Ctrl-C or, on Unix, SIGTERM (what systemd sends).
async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("stop requested");
}

fn status_command(cli: &Cli, config_path: &Path, runs: usize) -> Result<ExitCode> {
    use regbridge::state::StateStore;
    let config = Config::load(config_path)?;
    let state_dir = &config.run.state_dir;
    let Some(store) = StateStore::open_reader(state_dir)? else {
        if cli.json {
            println!("{}", serde_json::json!({"state": null, "runs": []}));
        } else {
            println!(
                "no state database in {} yet: nothing has run",
                state_dir.display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    };
    let last_runs = store.last_runs(runs)?;
    let sources = store.source_inputs()?;
    let open = store.open_findings()?;
    let resolved = store.resolved_findings()?;
    let pending_reviews = regbridge::review::read_queue(state_dir)
        .map(|q| q.len())
        .unwrap_or(0);
    let pulls = store.pull_health().unwrap_or_default();
    let waiting_mail = store.due_mails(None).map(|m| m.len()).unwrap_or(0);
    let refused_mail = store.failed_mails().unwrap_or_default();
    if cli.json {
        let out = serde_json::json!({
            "state": state_dir.join(regbridge::state::DATABASE),
            "runs": last_runs,
            "sources": sources,
            "pulls": pulls,
            "mail_waiting": waiting_mail,
            "mail_refused": refused_mail,
            "open_findings": open,
            "resolved_findings": resolved,
            "pending_reviews": pending_reviews,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    let zone = config.timezone();
    let local = |t: &str| {
        chrono::DateTime::parse_from_rfc3339(t).map_or(t.to_string(), |t| {
            t.with_timezone(&zone).format("%Y-%m-%d %H:%M").to_string()
        })
    };
    println!("last runs ({})", zone.name());
    for r in &last_runs {
        let error = r
            .error
            .as_deref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default();
        let line = format!(
            "  {}  {:<4} {:<8}{error}",
            local(&r.started_at),
            r.kind,
            r.outcome
        );
        println!("{}", line.trim_end());
    }
    println!();
    println!("sources: distinct inputs, newest content first read, last read");
    for name in config.sources.keys() {
        match sources.iter().find(|s| &s.source == name) {
            Some(s) => println!(
                "  {name:<14} {:>5}  {}  {}",
                s.inputs,
                s.newest_first_seen_at.as_deref().map_or("-".into(), local),
                s.last_seen_at.as_deref().map_or("-".into(), local)
            ),
            None => println!("  {name:<14}     0  never"),
        }
    }
    if !pulls.is_empty() {
        println!();
        println!("API sources: records stored, last pull, last success");
        for p in &pulls {
            let state = match &p.last_error {
                Some(e) => format!("FAILING ({} in a row): {e}", p.consecutive_failures),
                None => "ok".to_string(),
            };
            println!(
                "  {:<14} {:>7}  {}  {}  {state}",
                p.source,
                p.records,
                local(&p.last_pull_at),
                p.last_ok_at.as_deref().map_or("never".into(), local)
            );
        }
    }
    println!();
    println!("mail: {waiting_mail} waiting in the outbox");
    for m in &refused_mail {
        println!(
            "  refused for good ({}): {} of run {}: {}",
            local(&m.failed_at),
            m.key,
            m.run_id,
            m.error
        );
    }
    println!();
    println!("open findings (resolved so far)");
    for name in config.institutions.keys() {
        let counts = open.get(name);
        let count = |severity: &str| counts.and_then(|c| c.get(severity)).copied().unwrap_or(0);
        println!(
            "  {name:<14} {} errors, {} warnings ({} resolved)",
            count("error"),
            count("warning"),
            resolved.get(name).copied().unwrap_or(0)
        );
    }
    println!();
    println!("pending reviews: {pending_reviews} (regbridge review list)");
    Ok(ExitCode::SUCCESS)
}

/// `--from`: an RFC 3339 instant, or a wall-clock time in the configured zone.
fn parse_from(text: &str, zone: chrono_tz::Tz) -> Result<chrono::DateTime<chrono::Utc>> {
    use chrono::TimeZone;
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let naive = [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d",
    ]
    .iter()
    .find_map(|f| {
        chrono::NaiveDateTime::parse_from_str(text, f)
            .ok()
            .or_else(|| {
                chrono::NaiveDate::parse_from_str(text, f)
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
            })
    })
    .with_context(|| {
        format!("--from {text}: expected 2027-03-27T00:00:00+01:00 or 2027-03-27T00:00")
    })?;
    zone.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&chrono::Utc))
        .with_context(|| format!("--from {text}: that wall-clock time does not exist in {zone}"))
}

fn schedule_command(
    cli: &Cli,
    config_path: &Path,
    from: Option<&str>,
    count: usize,
) -> Result<ExitCode> {
    let config = Config::load(config_path)?;
    let zone = config.timezone();
    let from = match from {
        Some(text) => parse_from(text, zone)?,
        None => chrono::Utc::now(),
    };
    let jobs = config.jobs()?;
    let listed: Vec<(String, String, Vec<String>)> = jobs
        .iter()
        .map(|job| {
            let firings = job
                .schedule
                .firings(from, count)
                .iter()
                .map(|t| t.to_rfc3339())
                .collect();
            (
                job.name.clone(),
                job.schedule.expression().to_string(),
                firings,
            )
        })
        .collect();
    if cli.json {
        let jobs: Vec<serde_json::Value> = listed
            .iter()
            .map(|(name, expression, firings)| {
                serde_json::json!({"job": name, "expression": expression, "firings": firings})
            })
            .collect();
        let out = serde_json::json!({
            "timezone": zone.name(),
            "from": from.with_timezone(&zone).to_rfc3339(),
            "jobs": jobs,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    if listed.is_empty() {
        println!("no scheduled jobs: add `schedule = \"…\"` to a source, or [schedule] publish / digests");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "next firings after {} ({})",
        from.with_timezone(&zone).format("%Y-%m-%d %H:%M:%S %:z"),
        zone.name()
    );
    for (name, expression, firings) in &listed {
        println!();
        println!("{name}  \"{expression}\"");
        for t in firings {
            let local = chrono::DateTime::parse_from_rfc3339(t)?.with_timezone(&zone);
            println!("  {}", local.format("%a %Y-%m-%d %H:%M %:z"));
        }
        if firings.is_empty() {
            println!("  never (the expression matches no date)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn eval_command(
    cli: &Cli,
    config_path: &Path,
    truth: &Path,
    linkage_input: Option<&Path>,
) -> Result<ExitCode> {
    use regbridge::eval::{evaluate, read_assignment};
    let config = Config::load(config_path)?;
    let cases = config.run.output_dir.join("cases.csv");
    let predicted = read_assignment(&cases, "child_id").with_context(|| {
        format!(
            "no published run to evaluate (run `regbridge run --config {}` first)",
            config_path.display()
        )
    })?;
    let truth = read_assignment(truth, "child")?;
    let e = evaluate(&predicted, &truth);
    // Blocking recall: re-read the exports and block them as the run did.
    let records = regbridge::run::link_records(&config)?;
    let settings = regbridge::linkage::LinkageConfig::for_config(&config)?.probabilistic;
    let (keys, link_records): (Vec<_>, Vec<_>) = records.into_iter().unzip();
    if let Some(path) = linkage_input {
        regbridge::eval::write_linkage_input(path, &keys, &link_records, &truth)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let plan = settings.blocking();
    let blocks = regbridge::linkage::probabilistic::Blocks::new(&link_records, &plan);
    let candidate_pairs = blocks.count_pairs();
    let coverage = regbridge::eval::blocking_coverage(
        &keys,
        plan.keys.len(),
        |i, j| blocks.keys_pairing(i, j),
        &truth,
    );
    let (covered, true_pairs) = (coverage.covered, coverage.true_pairs);
    let blocking_recall = if true_pairs == 0 {
        1.0
    } else {
        covered as f64 / true_pairs as f64
    };
    // Each key: the pairs it forms on its own, the true pairs among them, and the true pairs only it
    // finds (what dropping it would cost).
    let by_key: Vec<serde_json::Value> = plan
        .keys
        .iter()
        .zip(blocks.pairs_by_key(plan.keys.len()))
        .zip(&coverage.by_key)
        .map(|((key, pairs), (found, only))| {
            serde_json::json!({
                "key": key.name,
                "pairs": pairs,
                "true_pairs": found,
                "true_pairs_only_this_key": only,
            })
        })
        .collect();
    if cli.json {
        let mut value = serde_json::to_value(&e)?;
        if let Some(object) = value.as_object_mut() {
            object.insert("candidate_pairs".into(), serde_json::json!(candidate_pairs));
            object.insert("blocking_recall".into(), serde_json::json!(blocking_recall));
            object.insert("blocking_keys".into(), serde_json::json!(by_key));
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "records evaluated: {} ({} in the truth were not published)",
        e.records, e.not_published
    );
    println!(
        "children: {} found, {} in the truth",
        e.predicted_children, e.true_children
    );
    println!(
        "pairs: {} linked, {} true, {} correct",
        e.predicted_pairs, e.true_pairs, e.correct_pairs
    );
    println!();
    println!(
        "{:<10} {:>10} {:>10} {:>10}",
        "", "precision", "recall", "F1"
    );
    for (name, s) in [("pairwise", e.pairwise), ("cluster", e.cluster)] {
        println!(
            "{name:<10} {:>10.4} {:>10.4} {:>10.4}",
            s.precision, s.recall, s.f1
        );
    }
    println!();
    println!(
        "blocking: {} candidate pairs, recall {blocking_recall:.4} ({covered} of {true_pairs} true pairs)",
        candidate_pairs
    );
    println!(
        "{:<45} {:>12} {:>12} {:>12}",
        "blocking key", "pairs alone", "true pairs", "only by it"
    );
    for key in &by_key {
        println!(
            "{:<45} {:>12} {:>12} {:>12}",
            key["key"].as_str().unwrap_or_default(),
            key["pairs"],
            key["true_pairs"],
            key["true_pairs_only_this_key"]
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn synth_command(
    cli: &Cli,
    out: &Path,
    records: usize,
    seed: u64,
    assets: &Path,
) -> Result<ExitCode> {
    use regbridge::reference::Reference;
    use regbridge::synth::{generate, write, SynthOptions, SynthWriteOptions};
    let reference = Reference::load(&assets.join("reference"), "kas_districts")
        .with_context(|| format!("loading reference data from {}", assets.display()))?;
    let dataset = generate(&SynthOptions { records, seed }, &reference);
    let summary = write(
        &dataset,
        &SynthWriteOptions {
            out_dir: out.to_path_buf(),
            assets_dir: assets.to_path_buf(),
        },
    )?;
    if cli.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "records_per_source": summary.records_per_source,
                "children": summary.children,
                "defects": summary.defects,
                "files": summary.files,
            }))?
        );
    } else if !cli.quiet {
        let total: usize = summary.records_per_source.values().sum();
        println!(
            "wrote {total} records of {} children ({} with deliberate defects) to {}",
            summary.children,
            summary.defects,
            out.display()
        );
        for (source, n) in &summary.records_per_source {
            println!("  {source:<14} {n}");
        }
        println!(
            "run it with: regbridge run --config {}",
            out.join("config.toml").display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
