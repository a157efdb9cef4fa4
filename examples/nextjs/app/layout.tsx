import type { Metadata } from "next";
import type { ReactNode } from "react";
import { RealtimeProvider } from "@switchboard/client/react";
import "./globals.css";

export const metadata: Metadata = {
  title: "Switchboard chat",
  description: "A Next.js app talking to a Switchboard WebSocket API",
};

// NEXT_PUBLIC_* values are inlined at build time: set NEXT_PUBLIC_WS_URL before `next build`.
const WS_URL = process.env.NEXT_PUBLIC_WS_URL ?? "ws://localhost:3001";

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        {/* In the root layout, so one connection survives every route change. The props are
            plain strings: a server component can render this client component. */}
        <RealtimeProvider url={WS_URL} authUrl="/api/ws-token">
          {children}
        </RealtimeProvider>
      </body>
    </html>
  );
}
