//! Skill loading, the runtime core's first half: the engine (and the
//! ticker of its epochs), the linker holding every host capability, and the
//! content-addressed cache of compiled components. A component is compiled
//! once (or taken from the cache), its imports checked and resolved once
//! into an `InstancePre`, and its `describe` run in a throwaway instance
//! with no capabilities ([`HostState::for_describe`]).

use crate::bindings;
use crate::cache::{self, CompiledCache};
use crate::config::{Limits, RuntimeConfig};
use crate::engine::{self, EpochTicker};
use crate::error::Error;
use crate::host::{HostEnv, HostState};
use crate::manifest::Manifest;
use crate::permissions::{self, ImportStatus};
use crate::skill::{Skill, SkillInfo, check_info, implicit_manifest};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::Engine;
use wasmtime::component::Linker;

/// The engine, the linker and the compiled cache.
pub(crate) struct SkillLoader {
    engine: Engine,
    linker: Linker<HostState>,
    cache: Arc<CompiledCache>,
    host: Arc<HostEnv>,
    /// Imports the operator allows beyond the gateway's own (`[trust]`).
    allow_imports: Vec<String>,
    /// The limits `describe` runs with: the defaults, clamped to the caps.
    describe_limits: Limits,
    _ticker: EpochTicker,
}

impl SkillLoader {
    /// The engine of `config.pool`, its epoch ticker, the linker of every
    /// capability and the cache in `<data dir>/cache`.
    pub(crate) fn new(config: &RuntimeConfig, host: Arc<HostEnv>) -> Result<Self, Error> {
        let engine = engine::build(&config.pool)?;
        let cache = Arc::new(CompiledCache::new(&config.cache_root(), &engine)?);
        let mut linker: Linker<HostState> = Linker::new(&engine);
        HostState::add_to_linker(&mut linker).map_err(|e| Error::Internal(format!("linker: {e}")))?;
        let ticker = EpochTicker::start(&engine, Duration::from_millis(config.pool.epoch_tick_ms))?;
        Ok(SkillLoader {
            engine,
            linker,
            cache,
            host,
            allow_imports: config.trust.allow_imports.clone(),
            describe_limits: config.defaults.clamped(&config.caps),
            _ticker: ticker,
        })
    }

    /// The engine every call's store is made on.
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Loads a skill from component bytes (signed by `publisher`, when it
    /// is): compiles it (or takes it from the cache), refuses imports no
    /// skill may have and a component that does not export the skill
    /// world, resolves its imports once, asks it to describe itself and
    /// checks that against the manifest.
    pub(crate) async fn load(
        &self,
        bytes: Vec<u8>,
        manifest: Option<Manifest>,
        publisher: Option<String>,
    ) -> Result<Arc<Skill>, Error> {
        let (engine, cache) = (self.engine.clone(), self.cache.clone());
        let (component, digest, outcome) = tokio::task::spawn_blocking(move || {
            cache::check_component_header(&bytes)?;
            let digest = cache::digest(&bytes);
            let (component, outcome) = cache.load(&engine, &bytes, &digest)?;
            Ok::<_, Error>((component, digest, outcome))
        })
        .await
        .map_err(|e| Error::Internal(format!("compile task: {e}")))??;

        let (imports, exports) = interfaces(&self.engine, &component);
        let allow = &self.allow_imports;
        let mut stub_unknown = false;
        for import in &imports {
            match permissions::classify(import, None, allow) {
                ImportStatus::Forbidden => {
                    return Err(Error::InvalidSkill(format!(
                        "it imports {import}, which skills may not import (the operator's [trust] \
                         allow_imports does not allow it)"
                    )));
                }
                ImportStatus::AllowedByOperator => stub_unknown = true,
                _ => {}
            }
        }
        if !exports.iter().any(|e| e == permissions::HANDLER_EXPORT) {
            return Err(Error::InvalidSkill(format!(
                "it does not export {} (the wasmclaw:skill/skill world); it exports: {}",
                permissions::HANDLER_EXPORT,
                if exports.is_empty() { "nothing".to_string() } else { exports.join(", ") }
            )));
        }
        let instance_pre = if stub_unknown {
            // Imports the operator allows but the gateway does not implement
            // trap when called.
            let mut linker = self.linker.clone();
            linker
                .define_unknown_imports_as_traps(&component)
                .map_err(|e| Error::InvalidSkill(format!("cannot stub its allowed imports: {e}")))?;
            linker.instantiate_pre(&component)
        } else {
            self.linker.instantiate_pre(&component)
        }
        .map_err(|e| {
            Error::InvalidSkill(format!("it imports something the gateway does not provide: {e}"))
        })?;
        let pre = bindings::SkillPre::new(instance_pre).map_err(|e| {
            Error::InvalidSkill(format!("it does not export the wasmclaw:skill/handler@0.1.0 interface: {e}"))
        })?;
        let info = self.describe(&pre).await?;
        let manifest = match manifest {
            None => implicit_manifest(&info),
            Some(m) if m.name != info.name || m.version != info.version => {
                return Err(Error::InvalidSkill(format!(
                    "the manifest says {} {} but the component says {} {}",
                    m.name, m.version, info.name, info.version
                )));
            }
            Some(m) => m,
        };
        Ok(Arc::new(Skill { info, digest, imports, exports, cache: outcome, manifest, publisher, pre }))
    }

    /// Runs `describe` in a throwaway instance with no capabilities.
    async fn describe(&self, pre: &bindings::SkillPre<HostState>) -> Result<SkillInfo, Error> {
        let limits = &self.describe_limits;
        let (state, handles) = HostState::for_describe(&self.host, limits);
        let mut store = crate::call::new_store(&self.engine, state, limits, handles.turns, handles.debt);
        let result = async {
            let instance = pre.instantiate_async(&mut store).await?;
            instance.wasmclaw_skill_handler().call_describe(&mut store).await
        }
        .await;
        let raw = result.map_err(|e| {
            let err = crate::call::classify(e, &store, limits);
            Error::InvalidSkill(format!("its describe failed: {err}"))
        })?;
        check_info(raw).map_err(Error::InvalidSkill)
    }
}

/// A component's imported and exported interface names, read from its
/// type (nothing is instantiated).
pub fn interfaces(engine: &Engine, component: &wasmtime::component::Component) -> (Vec<String>, Vec<String>) {
    let ty = component.component_type();
    let imports = ty.imports(engine).map(|(name, _)| name.to_string()).collect();
    let exports = ty.exports(engine).map(|(name, _)| name.to_string()).collect();
    (imports, exports)
}

/// The imported and exported interface names of component `bytes`, read
/// from its type after compiling it on a plain engine (for `skill inspect`:
/// nothing is instantiated, no data directory is needed).
pub fn component_interfaces(bytes: &[u8]) -> Result<(Vec<String>, Vec<String>), Error> {
    cache::check_component_header(bytes)?;
    let engine =
        Engine::new(&wasmtime::Config::new()).map_err(|e| Error::Internal(format!("engine: {e}")))?;
    let component = wasmtime::component::Component::new(&engine, bytes)
        .map_err(|e| Error::InvalidSkill(format!("it does not compile: {e}")))?;
    Ok(interfaces(&engine, &component))
}
