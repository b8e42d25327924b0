<?xml version="1.0" encoding="UTF-8"?>
<!-- Shows an RSS or Atom feed of syndicate as a readable page when opened in a browser. -->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:atom="http://www.w3.org/2005/Atom">
  <xsl:output method="html" encoding="UTF-8" indent="yes"/>
  <xsl:template match="/">
    <html>
      <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title><xsl:value-of select="rss/channel/title | atom:feed/atom:title"/></title>
        <style>
          body { font-family: -apple-system, "PingFang SC", "Microsoft YaHei", sans-serif; margin: 2rem auto; max-width: 46rem; padding: 0 1rem; color: #222; }
          .note { background: #f4f6fb; padding: .75rem 1rem; border-radius: 6px; font-size: .9rem; }
          h2 { font-size: 1.05rem; margin: 1.5rem 0 .25rem; } .date { color: #666; font-size: .85rem; }
        </style>
      </head>
      <body>
        <p class="note">这是一个订阅源(feed)。复制地址栏中的网址,粘贴到任意阅读器即可订阅。</p>
        <h1><xsl:value-of select="rss/channel/title | atom:feed/atom:title"/></h1>
        <xsl:for-each select="rss/channel/item">
          <h2><a href="{link}"><xsl:value-of select="title"/></a></h2>
          <div class="date"><xsl:value-of select="pubDate"/></div>
          <p><xsl:value-of select="description"/></p>
        </xsl:for-each>
        <xsl:for-each select="atom:feed/atom:entry">
          <h2><a href="{atom:link[@rel='alternate' or not(@rel)]/@href}"><xsl:value-of select="atom:title"/></a></h2>
          <div class="date"><xsl:value-of select="atom:published"/></div>
          <p><xsl:value-of select="atom:summary"/></p>
        </xsl:for-each>
      </body>
    </html>
  </xsl:template>
</xsl:stylesheet>
