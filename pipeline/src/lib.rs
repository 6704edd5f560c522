//! regbridge: validates, links and publishes child-labour case records from Kosovo's institutional
//! registries. See ARCHITECTURE.md for the data flow and the code map.

pub mod alerts;
pub mod check;
pub mod config;
pub mod daemon;
pub mod eval;
pub mod findings;
pub mod identity;
pub mod intake;
pub mod linkage;
pub mod mapping;
pub mod model;
pub mod publish;
pub mod pull;
pub mod reconcile;
pub mod reference;
pub mod repeats;
pub mod review;
pub mod rules;
pub mod run;
pub mod schedule;
pub mod schema;
pub mod standardise;
pub mod state;
pub mod synth;
