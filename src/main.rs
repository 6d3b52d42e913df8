//! Entry point: parse the command line and dispatch. Everything else lives in the library.

use std::io::Read;
use std::process::ExitCode;

use clap::Parser;
use music21_prod::cli::{BallastArgs, Cli, Command, ServeArgs, SetupArgs, StressArgs, ToolArgs};
use music21_prod::config::Config;
use music21_prod::tools::{Registry, ToolContext};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Tool(args) => run_tool(args),
        Command::Setup(args) => run_setup(args),
        Command::Serve(args) => run_serve(args),
        Command::Stress(args) => run_stress(args),
        Command::Monitor(args) => music21_prod::monitor::run(args.into()),
        Command::Report(args) => music21_prod::report::run(args.into()),
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

fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("music21-prod tool: {message}");
    ExitCode::from(2)
}

fn run_tool(args: ToolArgs) -> ExitCode {
    let registry = Registry::new();
    if args.list {
        for tool in registry.tools() {
            print_out(&format!("{:<24} {}", tool.name, tool.description));
        }
        return ExitCode::SUCCESS;
    }
    let Some(name) = args.name.as_deref() else {
        return usage_error("name a tool (see --list)");
    };
    let Some(def) = registry.get(name) else {
        return usage_error(format!(
            "unknown tool '{name}'; the tools are: {}",
            registry.names().join(", ")
        ));
    };
    if args.schema {
        let schemas = serde_json::json!({
            "name": def.name,
            "description": def.description,
            "inputSchema": def.input_schema,
            "outputSchema": def.output_schema,
        });
        print_out(&serde_json::to_string_pretty(&schemas).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    let text = match &args.args_file {
        Some(path) if path.as_os_str() == "-" => {
            let mut s = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut s) {
                return usage_error(format!("cannot read arguments from standard input: {e}"));
            }
            s
        }
        Some(path) => match std::fs::read_to_string(path) {
            Ok(s) => s,
            Err(e) => return usage_error(format!("cannot read {}: {e}", path.display())),
        },
        None => args.args.clone(),
    };
    let json: serde_json::Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => return usage_error(format!("--args is not valid JSON: {e}")),
    };
    let mut config = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return usage_error(e),
    };
    if let Some(dir) = args.data_dir {
        config.server.data_dir = dir;
    }
    let ctx = match ToolContext::open(config) {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!("music21-prod tool {name}: {e}");
            return ExitCode::from(1);
        }
    };
    match registry.call(&ctx, name, json) {
        Ok(value) => {
            print_out(&serde_json::to_string_pretty(&value).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("music21-prod tool {name}: error ({}): {e}", e.code());
            ExitCode::from(1)
        }
    }
}

fn run_serve(args: ServeArgs) -> ExitCode {
    let mut config = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("music21-prod serve: {e}");
            return ExitCode::from(2);
        }
    };
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
    if let Err(e) = config.validate("command line") {
        eprintln!("music21-prod serve: {e}");
        return ExitCode::from(2);
    }
    if args.supervise {
        music21_prod::logging::init(&config.server.log_format);
        let passthrough: Vec<String> = std::env::args()
            .skip(2)
            .filter(|a| a != "--supervise")
            .collect();
        return music21_prod::server::supervise::run(passthrough);
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

fn run_stress(args: StressArgs) -> ExitCode {
    let code = music21_prod::stress::run::run(music21_prod::stress::run::StressArgs {
        config: args.config,
        duration: args.duration,
        users: args.users,
        out: args.out,
        seed: args.seed,
        monitor: args.monitor,
    });
    ExitCode::from(code.clamp(0, 255) as u8)
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

fn run_setup(args: SetupArgs) -> ExitCode {
    if args.new_token {
        return match music21_prod::config::new_token() {
            Ok(token) => {
                print_out(&token);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("music21-prod setup: cannot read /dev/urandom: {e}");
                ExitCode::from(1)
            }
        };
    }
    match args.fetch_corpus {
        Some(dir) => music21_prod::setup::fetch_corpus(dir, args.config).unwrap_or_else(|e| {
            eprintln!("fetch-corpus: {e:#}");
            ExitCode::FAILURE
        }),
        None => music21_prod::setup::run(music21_prod::setup::SetupOptions {
            config: args.config,
            fix: args.fix,
            json: args.json,
            root: std::path::PathBuf::from("."),
        }),
    }
}
