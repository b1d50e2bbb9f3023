//! quantdal-redis: the Redis store. Realtime classes keep the newest row per series (one MessagePack value,
//! [`rowpack`], in one hash per class; series expire by the class's TTL), a capped stream of recent rows per
//! series, an index of series and a live feed, all under `<prefix>:{<class>}:` so a class is one Redis Cluster hash slot and a save of many series is one atomic
//! script. The same keys and script serve as a latest-row cache for classes held elsewhere
//! ([`RedisCache`]). See docs/redis.md.

mod backend;
mod cache;
pub mod codec;
mod conn;
mod errors;
mod feed;
pub mod keys;
pub mod layout;
mod ops;
pub mod rowpack;
mod schema;
mod scripts;
mod store;

pub use backend::{RedisBackend, CAPABILITIES};
pub use cache::RedisCache;
pub use keys::ClassKeys;
pub use store::RedisStore;
