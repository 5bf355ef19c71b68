//! Integration tests: the real server on a loopback port (in-process or the real binary),
//! spoken to over HTTP and raw sockets. One test binary; one module per concern.

mod common;

mod affiliate_payouts;
mod api;
mod api_durability;
mod audience;
mod audit;
mod campaign_links;
mod caps;
mod cli;
mod cluster;
mod conditions;
mod connections;
mod console;
mod device;
mod geo;
mod health;
mod hostile;
mod landing_pages;
mod lifecycle;
mod metrics;
mod openapi;
mod optimized;
mod partner_postbacks;
mod postbacks;
mod preview;
mod proxies;
mod quick_start;
mod revenue;
mod rotation;
mod service;
mod smart_link;
mod state_files;
mod weights;
