//! LoadBalancer, live (P3): external address, chat page and proxied API through it.

use kubegate::live::loadbalancer;

per_path!(
    /// The frontend Service gets an address; `/` and `/api/tasks` answer through it.
    frontend_address_serves_page_and_api, |ctx, app| loadbalancer::address_and_pages(ctx, app).await
);

per_path!(
    /// A LoadBalancer Service nobody provisions is diagnosed as such.
    unprovisioned_service_is_diagnosed, |ctx, app| loadbalancer::unprovisioned_is_diagnosed(ctx, app).await
);
