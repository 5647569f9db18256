//! An HTTP service that sheds load with a bounded [`sluicebox`] channel, and a load
//! generator that measures it. The binary (`src/main.rs`) serves, or drives a served copy
//! of itself; `tests/overload.rs` overloads it and checks its books.

pub mod load;
pub mod prom_text;
pub mod service;
