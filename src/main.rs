//! The `airsign` binary: parse the command line, run it, map errors to exit codes.
#![forbid(unsafe_code)]

fn main() {
    let code = match airsign::cli::run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("airsign: error: {err}");
            err.exit_code()
        }
    };
    std::process::exit(code);
}
