//! The `airsign` binary: parse the command line, run it, map errors to exit codes.
#![forbid(unsafe_code)]

fn main() {
    airsign::cleanup::install();
    // a bulk write holds one descriptor per staged blob (see store::unnamed)
    airsign::store::unnamed::raise_open_file_limit();
    let code = match airsign::cli::run() {
        Ok(code) => code,
        // stdout closed by its reader (`airsign ls | head -1`): end as `ls` or `cat`
        // would, killed by SIGPIPE, without a word (the temp files go first)
        Err(err) if airsign::ops::stdout_closed(&err) => {
            airsign::cleanup::at_exit();
            let _ = signal_hook::low_level::emulate_default_handler(signal_hook::consts::SIGPIPE);
            128 + signal_hook::consts::SIGPIPE
        }
        Err(err) => {
            eprintln!("airsign: error: {err}");
            err.exit_code()
        }
    };
    airsign::cleanup::at_exit();
    std::process::exit(code);
}
