//! Links the contract with a 64 KiB shadow stack instead of rustc's default 1 MiB, so its memory
//! starts at two pages rather than seventeen (every run instantiates it afresh).

fn main() {
    println!("cargo::rustc-link-arg-cdylib=-zstack-size=65536");
}
