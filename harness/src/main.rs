fn main() {
    std::process::exit(kubegate::cli::main_impl());
}
