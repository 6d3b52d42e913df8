//! Entry point: parse the command line and dispatch. Everything else lives in the library.

use std::io::Read;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Parser;
use music21_prod::cli::{BallastArgs, Cli, Command, ServeArgs, SetupArgs, StressArgs, ToolArgs};
use music21_prod::config::Config;
use music21_prod::tools::{Registry, ToolContext};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Tool(args) => finish("tool", run_tool(args), 2),
        Command::Setup(args) => finish("setup", run_setup(args), 1),
        Command::Serve(args) => finish("serve", run_serve(args), 1),
        Command::Stress(args) => finish("stress", run_stress(args), 2),
        Command::Monitor(args) => finish("monitor", music21_prod::monitor::run(args.into()), 1),
        Command::Report(args) => finish("report", music21_prod::report::run(args.into()), 1),
        Command::Worker => run_worker(),
        Command::Ballast(args) => run_ballast(args),
    }
}

/// Prints to stdout; a closed pipe (`| head`) ends the output quietly instead of panicking.
fn print_out(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|_| out.flush());
}

/// Ends a subcommand: its exit code, or its error printed with the code for a failure
/// (`failure`), or 2 for a configuration error (a usage error, for every subcommand).
fn finish(command: &str, result: anyhow::Result<ExitCode>, failure: u8) -> ExitCode {
    result.unwrap_or_else(|e| {
        eprintln!("music21-prod {command}: {e:#}");
        if e.downcast_ref::<music21_prod::config::ConfigError>()
            .is_some()
        {
            ExitCode::from(2)
        } else {
            ExitCode::from(failure)
        }
    })
}

/// `tool`: one call on the configured store. Bad arguments are errors (exit 2); the
/// tool's own failure is printed with its code (exit 1).
fn run_tool(args: ToolArgs) -> anyhow::Result<ExitCode> {
    let registry = Registry::new();
    if args.list {
        for tool in registry.tools() {
            print_out(&format!("{:<24} {}", tool.name, tool.description));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(name) = args.name.as_deref() else {
        bail!("name a tool (see --list)");
    };
    let Some(def) = registry.get(name) else {
        bail!(
            "unknown tool '{name}'; the tools are: {}",
            registry.names().join(", ")
        );
    };
    if args.schema {
        let schemas = serde_json::json!({
            "name": def.name,
            "description": def.description,
            "inputSchema": def.input_schema,
            "outputSchema": def.output_schema,
        });
        print_out(&serde_json::to_string_pretty(&schemas).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    }
    let text = match &args.args_file {
        Some(path) if path.as_os_str() == "-" => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read arguments from standard input")?;
            s
        }
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        None => args.args.clone(),
    };
    let json: serde_json::Value =
        serde_json::from_str(&text).context("--args is not valid JSON")?;
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(dir) = args.data_dir {
        config.server.data_dir = dir;
    }
    let ctx = match ToolContext::open(config) {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!("music21-prod tool {name}: {e}");
            return Ok(ExitCode::from(1));
        }
    };
    match registry.call(&ctx, name, json) {
        Ok(value) => {
            print_out(&serde_json::to_string_pretty(&value).unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("music21-prod tool {name}: error ({}): {e}", e.code());
            Ok(ExitCode::from(1))
        }
    }
}

fn run_serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(bind) = &args.bind {
        config.server.bind = bind.clone();
    }
    if let Some(port) = args.port {
        config.server.port = port;
    }
    if let Some(dir) = &args.data_dir {
        config.server.data_dir = dir.clone();
    }
    if let Some(workers) = args.workers {
        config.server.workers.count = workers;
    }
    // Flags can change what the file said: check again (a non-loopback --bind needs a token).
    config.validate("command line")?;
    if args.supervise {
        music21_prod::logging::init(&config.server.log_format);
        let passthrough: Vec<String> = std::env::args()
            .skip(2)
            .filter(|a| a != "--supervise")
            .collect();
        return Ok(music21_prod::server::supervise::run(passthrough));
    }
    music21_prod::server::run(config, args.stdio)
}

fn run_worker() -> ExitCode {
    let Ok(json) = std::env::var(music21_prod::workers::pool::WORKER_CONFIG_ENV) else {
        eprintln!("music21-prod worker: this is started by `music21-prod serve`, not by hand");
        return ExitCode::from(2);
    };
    let config: Config = match serde_json::from_str(&json) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("music21-prod worker: bad configuration from the server: {e}");
            return ExitCode::from(2);
        }
    };
    music21_prod::workers::process::run(config).unwrap_or_else(|e| {
        eprintln!("worker: {e:#}");
        ExitCode::FAILURE
    })
}

fn run_stress(args: StressArgs) -> anyhow::Result<ExitCode> {
    music21_prod::stress::run::run(music21_prod::stress::run::StressOptions {
        config: args.config,
        duration: args.duration,
        users: args.users,
        out: args.out,
        seed: args.seed,
        monitor: args.monitor,
        target: args.target,
        time_scale: args.time_scale,
    })
}

/// Holds `mb` megabytes of touched memory for `seconds`, then exits: real memory pressure,
/// bounded in size and time.
fn run_ballast(args: BallastArgs) -> ExitCode {
    let mb = args.mb.min(16_384) as usize;
    let seconds = args.seconds.clamp(0.0, 3600.0);
    let mut ballast: Vec<u8> = Vec::new();
    if ballast.try_reserve_exact(mb * 1024 * 1024).is_err() {
        eprintln!("music21-prod ballast: cannot allocate {mb} MB");
        return ExitCode::from(1);
    }
    ballast.resize(mb * 1024 * 1024, 0);
    // Touch every page so the memory is really resident.
    for page in ballast.chunks_mut(4096) {
        page[0] = 1;
    }
    std::thread::sleep(std::time::Duration::from_secs_f64(seconds));
    std::hint::black_box(&ballast);
    ExitCode::SUCCESS
}

fn run_setup(args: SetupArgs) -> anyhow::Result<ExitCode> {
    if args.new_token {
        let token = music21_prod::config::new_token().context("cannot read /dev/urandom")?;
        print_out(&token);
        return Ok(ExitCode::SUCCESS);
    }
    match args.fetch_corpus {
        Some(dir) => music21_prod::setup::fetch_corpus(dir, args.config),
        None => music21_prod::setup::run(music21_prod::setup::SetupOptions {
            config: args.config,
            fix: args.fix,
            json: args.json,
            root: std::path::PathBuf::from("."),
        }),
    }
}
