"""The Cloudflare tunnel (ts-tunnel): whether cloudflared, run in the services stack, is connected
to Cloudflare, read from its metrics server's /ready."""
