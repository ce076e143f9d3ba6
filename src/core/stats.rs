//! PLACEHOLDER until the stats work lands (replaced on merge).
use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    pub conferences: u64,
    pub participants: u64,
    pub component_connected: bool,
    pub bridge_count: u64,
    pub operational_bridge_count: u64,
}

impl super::Focus {
    pub fn stats(&self) -> Stats {
        Stats { conferences: self.conference_count() as u64, ..Stats::default() }
    }
    pub fn debug_overview(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    pub fn debug_conference(&self, _room: &str) -> Option<serde_json::Value> {
        None
    }
}
