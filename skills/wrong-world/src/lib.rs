//! `wrong-world` (hostile): a valid component that exports the world
//! `test:wrong/wrong` (a bare `run: func() -> string`) instead of the
//! wasmclaw skill world.
//! Expected host outcome: the host rejects it at load time with a clear
//! error (no `wasmclaw:skill/handler` export), and never instantiates it.
wit_bindgen::generate!({
    inline: "package test:wrong; world wrong { export run: func() -> string; }",
});

struct Wrong;

impl Guest for Wrong {
    fn run() -> String {
        "wrong".to_string()
    }
}

export!(Wrong);
