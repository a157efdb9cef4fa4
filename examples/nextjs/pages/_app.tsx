// The Pages Router variant: the provider wraps every page in `_app.tsx`. (This example is an App
// Router app; this file and `pages/pages-router.tsx` only show, and let `next build` check, that
// the bindings work in the Pages Router too. `app/` routes do not use `_app`.)
import type { AppProps } from "next/app";
import { RealtimeProvider } from "@switchboard/client/react";

const WS_URL = process.env.NEXT_PUBLIC_WS_URL ?? "ws://localhost:3001";

export default function App({ Component, pageProps }: AppProps) {
  return (
    <RealtimeProvider url={WS_URL} authUrl="/api/ws-token">
      <Component {...pageProps} />
    </RealtimeProvider>
  );
}
