package io.varvedb.kafka.bench;

import io.varvedb.kafka.broker.SharedKafka;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The bench in a tiny configuration, so that it keeps working: every sender and one lag rate against the tests'
 * broker, in a few seconds. Its numbers mean nothing.
 */
class KafkaBenchTest
{
    @Test
    void runsEveryPartInATinyConfiguration() throws Exception
    {
        final KafkaBench.Options options = KafkaBench.Options.parse(new String[] {
            "--broker=" + SharedKafka.get().bootstrap(),
            "--sizes=100", "--events=3000", "--rounds=2", "--warmup-events=0", "--txn=500",
            "--variant=linger 10 ms:linger.ms=10,maxEventsPerTransaction=1000",
            "--rates=2000", "--lag-warmup=0.3", "--lag-seconds=1", "--lag-variant=linger 0:linger.ms=0"});
        final KafkaBench.Report report = KafkaBench.run(options);

        assertEquals(1, report.sizes().size());
        // publisher 500, the variant, plain idempotent, plain transactional 500
        for (int sender = 0; sender < 4; sender++)
        {
            assertTrue(report.sizes().get(0).median(sender) > 0, "sender " + sender);
        }
        assertEquals(2, report.lags().size());
        final KafkaBench.LagResult lag = report.lags().get(0);
        assertTrue(lag.lag().getTotalCount() > 1000, "lags recorded: " + lag.lag().getTotalCount());
        assertTrue(lag.achievedRate() > 1000, "rate " + lag.achievedRate());
        final String markdown = report.markdown();
        assertTrue(markdown.contains("| plain idempotent producer |"), markdown);
        assertTrue(markdown.contains("| 2,000/s |"), markdown);
    }
}
