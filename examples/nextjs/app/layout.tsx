import type { Metadata } from "next";
import type { ReactNode } from "react";
import { RealtimeProvider } from "@switchboard/client/react";
import { WS_URL } from "@/lib/switchboard";
import "./globals.css";

export const metadata: Metadata = {
  title: "Switchboard chat",
  description: "A Next.js app talking to a Switchboard WebSocket API",
};

// The URL is read on the server (SWITCHBOARD_WS_URL at start, else NEXT_PUBLIC_WS_URL from the
// build) and handed to the client component as a prop.

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
