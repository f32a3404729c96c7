package io.varvedb.tools;

/**
 * Buyers racing for stock, as the demo watches them: threads of this process ({@link BuyerThreads}) or buyer
 * processes ({@link BuyerProcesses}).
 */
interface DemoRace
{
    /**
     * @return true once every buyer has stopped by itself (everything sold out, or it failed).
     */
    boolean finished();

    /**
     * Tell every buyer to stop, and wait until all have.
     */
    void stop();

    /**
     * @return reservations acknowledged so far.
     */
    long orders();

    /**
     * @return conflicts caught so far.
     */
    long conflicts();

    /**
     * @return the most products one buyer has seen sold out.
     */
    int soldOut();
}
