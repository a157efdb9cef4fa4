/** @type {import('next').NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // The app is self-contained (the client is installed as a copy): bundle from this directory.
  turbopack: { root: import.meta.dirname },
};

export default nextConfig;
