//! The `airsign` binary: parse the command line, run it, map errors to exit codes.
#![forbid(unsafe_code)]

fn main() {
    airsign::cleanup::install();
    let code = match airsign::cli::run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("airsign: error: {err}");
            err.exit_code()
        }
    };
    airsign::cleanup::at_exit();
    std::process::exit(code);
}
