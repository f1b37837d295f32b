//! Stop all agents (the kill switch, issue 10), and resuming keys one by one.

mod kill_switch;
